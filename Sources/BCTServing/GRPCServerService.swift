import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import BCTTracing
import ServiceLifecycle

/// A gRPC server on plain TCP (h2c) run as a swift-service-lifecycle `Service`:
/// on graceful shutdown it reports NOT_SERVING, closes health watches, stops
/// accepting, and returns once in-flight RPCs have finished.
public struct GRPCServerService: Service {
  private let server: GRPCServer<HTTP2ServerTransport.Posix>
  private let health: HealthStatusStore
  private let logger: Logger
  private let name: String
  private let securitySummary: String
  private let onListening: @Sendable (_ host: String, _ port: Int) -> Void

  /// A server for `services` on `host:port` (port 0 picks a free one), with
  /// `grpc.health.v1` and gRPC server reflection (v1 and v1alpha) beside them.
  ///
  /// - Parameters:
  ///   - name: The executable's name, used in the "listening" line.
  ///   - serviceNames: Fully qualified names of `services`, listed by reflection.
  ///   - telemetry: The tracer every RPC's server span is started with.
  ///   - onListening: Called once bound; the default prints `NAME listening on HOST:PORT`
  ///     to standard output and flushes it, so a parent process can read the port.
  public init(
    name: String, host: String, port: Int, options: ServerOptions, security: SecurityOptions = SecurityOptions(),
    services: [any RegistrableRPCService], serviceNames: [String],
    health: HealthStatusStore, telemetry: Telemetry, logger: Logger,
    onListening: (@Sendable (_ host: String, _ port: Int) -> Void)? = nil
  ) {
    let transport = HTTP2ServerTransport.Posix(
      address: .ipv4(host: host, port: port),
      transportSecurity: security.transportSecurity,
      config: .defaults { config in
        config.rpc.maxRequestPayloadSize = options.transportPayloadLimit
        config.http2.maxConcurrentStreams = options.maxConcurrentStreams
        // Large windows and frames: a 256-image batch is ~800 KB, which the
        // 64 KB default window would split into a dozen round trips.
        config.http2.targetWindowSize = 16 << 20
        config.http2.maxFrameSize = 1 << 20
      })
    let schema: SchemaIndex
    do {
      schema = try SchemaIndex.bundled()
    } catch {
      preconditionFailure("the schema compiled into this program does not parse: \(error)")
    }
    let reflection = ReflectionService(services: serviceNames + ["grpc.health.v1.Health"], schema: schema)
    self.server = GRPCServer(
      transport: transport,
      services: services + [HealthService(store: health), reflection.v1, reflection.v1alpha],
      interceptors: [ServerTracing(telemetry: telemetry, logger: logger)] + security.interceptors)
    self.health = health
    self.logger = logger
    self.name = name
    self.securitySummary = security.summary
    self.onListening = onListening ?? { host, port in
      print("\(name) listening on \(host):\(port)")
      fflush(nil)
    }
  }

  public func run() async throws {
    try await withGracefulShutdownHandler {
      try await withThrowingDiscardingTaskGroup { group in
        group.addTask { try await server.serve() }
        if let address = try await server.listeningAddress?.ipv4 {
          logger.info("gRPC listening", metadata: [
            "host": "\(address.host)", "port": "\(address.port)", "security": "\(securitySummary)",
          ])
          onListening(address.host, address.port)
        }
      }
      logger.info("gRPC server stopped")
    } onGracefulShutdown: { [health, server, logger] in
      logger.info("graceful shutdown: finishing in-flight RPCs")
      health.close()
      server.beginGracefulShutdown()
    }
  }
}
