import BCTClient
import GRPCCore
import ServiceLifecycle

/// Runs a gRPC client's connections for the life of the service group.
public struct ClientConnections: Service {
  private let client: GRPCClient<ChannelTransport>

  /// Runs `client`.
  public init(_ client: GRPCClient<ChannelTransport>) {
    self.client = client
  }

  public func run() async throws {
    try await withGracefulShutdownHandler {
      try await client.runConnections()
    } onGracefulShutdown: {
      client.beginGracefulShutdown()
    }
  }
}
