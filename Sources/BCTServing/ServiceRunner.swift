import Foundation
import GRPCCore
import BCTTracing
import Logging
import ServiceLifecycle

/// Runs a service process: its background services, the Prometheus endpoint (when
/// `metricsPort` is 0 or more) and the gRPC server, under one swift-service-lifecycle
/// group that shuts down gracefully on SIGTERM/SIGINT, the gRPC server first.
public enum ServiceRunner {
  /// Checks a `--metrics-port` value (0 picks a free port, -1 disables).
  public static func validateMetricsPort(_ port: Int) throws {
    guard port == -1 || (0...65535).contains(port) else {
      throw ServiceRunnerError("--metrics-port must be 0-65535, or -1 to disable; got \(port)")
    }
  }

  /// Runs until a signal asks it to stop (or a service fails).
  public static func run(
    name: String, host: String, metricsPort: Int, metrics: ServiceMetrics, server: ServerOptions,
    background: [any Service], grpc: GRPCServerService, telemetry: Telemetry, logger: Logger
  ) async throws {
    // Services stop in reverse order: the gRPC server first, the span exporter last (it flushes).
    var services = [ServiceGroupConfiguration.ServiceConfiguration(service: telemetry.service)]
    services += background.map { ServiceGroupConfiguration.ServiceConfiguration(service: $0) }
    if metricsPort >= 0 {
      let metricsHost = server.metricsHost
      services.append(.init(service: MetricsHTTPServer(host: metricsHost, port: metricsPort, metrics: metrics, logger: logger) { port in
        print("\(name) metrics on \(metricsHost):\(port)")
        fflush(nil)
      }))
    }
    services.append(.init(service: grpc))
    var configuration = ServiceGroupConfiguration(
      services: services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
    configuration.maximumGracefulShutdownDuration = .seconds(server.shutdownTimeout)
    try await ServiceGroup(configuration: configuration).run()
    logger.info("stopped")
  }
}

/// A bad service setting.
public struct ServiceRunnerError: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
