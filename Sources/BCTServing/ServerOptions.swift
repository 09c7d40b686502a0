import BCTRuntime
import ArgumentParser
import BCTTracing
import Logging

/// Options every service accepts, each also settable through the environment
/// variable named in its help.
public struct ServerOptions: ParsableArguments {
  @Option(help: "Largest accepted request message in bytes; larger ones get RESOURCE_EXHAUSTED. Env BCT_MAX_MESSAGE_BYTES.")
  public var maxMessageBytes: Int = EnvironmentDefault.int("BCT_MAX_MESSAGE_BYTES", 64 << 20)

  @Option(help: "Most concurrent RPC streams per connection. Env BCT_MAX_CONCURRENT_STREAMS.")
  public var maxConcurrentStreams: Int = EnvironmentDefault.int("BCT_MAX_CONCURRENT_STREAMS", 256)

  @Option(help: "Log level: trace, debug, info, notice, warning, error, critical. Env BCT_LOG_LEVEL.")
  public var logLevel: String = EnvironmentDefault.string("BCT_LOG_LEVEL", "info")

  @Option(help: "Log format: text (key=value) or json (one object per line). Env BCT_LOG_FORMAT.")
  public var logFormat: String = EnvironmentDefault.string("BCT_LOG_FORMAT", "text")

  @Option(help: """
    Address the Prometheus endpoint (plain HTTP, no token) binds to. Default loopback: \
    metrics are not exposed beside the gRPC port; 0.0.0.0 for a scraper on another host. Env BCT_METRICS_HOST.
    """)
  public var metricsHost: String = EnvironmentDefault.string("BCT_METRICS_HOST", "127.0.0.1")

  @Option(help: "Seconds a graceful shutdown may take before in-flight work is cancelled. Env BCT_SHUTDOWN_TIMEOUT.")
  public var shutdownTimeout: Double = EnvironmentDefault.double("BCT_SHUTDOWN_TIMEOUT", 30)

  public init() {}

  /// The hard limit given to the HTTP/2 transport. Requests between
  /// `maxMessageBytes` and this are decoded and refused by the service with
  /// RESOURCE_EXHAUSTED and a message giving both sizes; the transport resets
  /// streams beyond it without a status.
  public var transportPayloadLimit: Int { maxMessageBytes.multipliedReportingOverflow(by: 4).overflow ? .max : maxMessageBytes * 4 }

  public mutating func validate() throws {
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got \(logLevel)")
    }
    guard let _ = LogFormat(rawValue: logFormat) else {
      throw ValidationError("--log-format must be text or json; got \(logFormat)")
    }
    guard maxMessageBytes >= 1024 else {
      throw ValidationError("--max-message-bytes must be at least 1024; got \(maxMessageBytes)")
    }
    guard maxConcurrentStreams >= 1 else {
      throw ValidationError("--max-concurrent-streams must be at least 1; got \(maxConcurrentStreams)")
    }
    guard shutdownTimeout > 0, shutdownTimeout <= 86_400 else {
      throw ValidationError("--shutdown-timeout must be positive and at most 86400 seconds; got \(shutdownTimeout)")
    }
  }

  /// A logger with the chosen level and format, writing to standard error.
  public func logger(label: String) -> Logger {
    let format = LogFormat(rawValue: logFormat) ?? .text
    var logger = Logger(label: label) { label in
      LineLogHandler(label: label, format: format, metadataProvider: Telemetry.metadataProvider)
    }
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
    return logger
  }
}

/// A listening port option pair, validated.
public func validatePort(_ port: Int, flag: String) throws {
  guard (0...65535).contains(port) else {
    throw ValidationError("\(flag) must be 0-65535 (0 picks a free port); got \(port)")
  }
}
