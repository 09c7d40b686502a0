import BCTTensor
import BCTNumerics
import Foundation
import BCTProto
import BCTTracing
import GRPCCore
import GRPCNIOTransportHTTP2

/// The gRPC transport every client in this package uses: HTTP/2 on plain TCP.
public typealias ChannelTransport = HTTP2ClientTransport.Posix

/// A long-lived gRPC client to `address`; run `runConnections()` in a task (or use
/// `withConnection`) for as long as it is used.
/// With `telemetry`, every call carries the current trace (W3C `traceparent`).
public func makeGRPCClient(
  to address: ServiceAddress, security: ClientSecurity = ClientSecurity(), telemetry: Telemetry? = nil
) throws -> GRPCClient<ChannelTransport> {
  let transport = try HTTP2ClientTransport.Posix(
    // IPv4 literals connect directly (and send no SNI, which may not carry an IP).
    target: address.isIPv4Literal
      ? ResolvableTargets.IPv4(addresses: [.init(host: address.host, port: address.port)]) as any ResolvableTarget
      : ResolvableTargets.DNS(host: address.host, port: address.port),
    transportSecurity: security.transportSecurity,
    config: .defaults { config in
      config.backoff = .init(initial: .milliseconds(100), max: .seconds(2), multiplier: 1.6, jitter: 0.2)
      config.http2.targetWindowSize = 16 << 20
      config.http2.maxFrameSize = 1 << 20
    })
  let tracing: [any ClientInterceptor] = telemetry.map { [ClientTracing(telemetry: $0)] } ?? []
  return GRPCClient(transport: transport, interceptors: tracing + security.interceptors)
}

/// Runs `body` with a client connected to `address`, then closes it.
public func withConnection<Result: Sendable>(
  to address: ServiceAddress, security: ClientSecurity = ClientSecurity(), telemetry: Telemetry? = nil,
  _ body: (GRPCClient<ChannelTransport>) async throws -> Result
) async throws -> Result {
  let client = try makeGRPCClient(to: address, security: security, telemetry: telemetry)
  return try await withThrowingTaskGroup(of: Void.self) { group in
    group.addTask { try await client.runConnections() }
    defer {
      client.beginGracefulShutdown()
    }
    let result = try await body(client)
    return result
  }
}

/// Call options with a deadline and a generous response size limit.
///
/// grpc-swift-nio-transport 2.9 reads replies with the *request* size limit (4 MiB
/// unless set), so both are set: a reply up to `maxResponseBytes` then decodes.
/// With `retry`, grpc-swift retries the call by that policy.
public func callOptions(timeout: Duration?, retry: RetryPolicy? = nil, maxResponseBytes: Int = 256 << 20) -> CallOptions {
  var options = CallOptions.defaults
  options.timeout = timeout
  if let retry { options.executionPolicy = .retry(retry) }
  options.maxResponseMessageBytes = maxResponseBytes
  options.maxRequestMessageBytes = maxResponseBytes
  return options
}

/// A typed client of `bct.v1.Encoder`.
public struct EncoderClient: Sendable {
  private let stub: Bct_V1_Encoder.Client<ChannelTransport>

  /// A client over a running gRPC client.
  public init(_ client: GRPCClient<ChannelTransport>) {
    stub = Bct_V1_Encoder.Client(wrapping: client)
  }

  /// Embeddings of `inputs` (one row per input, of `rowShape`) with `version` ("" = default).
  public func embed(
    _ inputs: Matrix, rowShape: [Int], version: String = "", normalize: Bool = true, timeout: Duration? = .seconds(30),
    retry: RetryPolicy? = nil
  ) async throws -> (version: String, embeddings: Matrix) {
    var request = Bct_V1_EmbedRequest()
    request.modelVersion = version
    request.inputs = Bct_V1_Tensor(batch: inputs, rowShape: rowShape)
    request.normalization = normalize ? .l2 : .none
    let response = try await stub.embed(request, options: callOptions(timeout: timeout, retry: retry))
    let shape = response.embeddings.shape
    guard shape.count == 2, Int(shape[0]) == inputs.rows, let dimension = Int(exactly: shape[1]),
      let embeddings = try? TensorCodec.decodeBatch(response.embeddings, rowShape: [dimension], what: "embeddings")
    else {
      throw RPCError(code: .internalError, message: "the encoder answered embeddings of shape \(shape) for \(inputs.rows) inputs")
    }
    return (response.modelVersion, embeddings)
  }

  /// One adapter's description and weights.
  public func getAdapter(
    _ request: Bct_V1_GetAdapterRequest, timeout: Duration? = .seconds(10), retry: RetryPolicy? = nil
  ) async throws -> Bct_V1_GetAdapterResponse {
    try await stub.getAdapter(request, options: callOptions(timeout: timeout, retry: retry))
  }

  /// Every version the encoder hosts.
  public func listModels(timeout: Duration? = .seconds(10), retry: RetryPolicy? = nil) async throws -> Bct_V1_ListModelsResponse {
    try await stub.listModels(Bct_V1_ListModelsRequest(), options: callOptions(timeout: timeout, retry: retry))
  }
}

/// A typed client of `grpc.health.v1.Health`.
public struct HealthClient: Sendable {
  private let stub: Grpc_Health_V1_Health.Client<ChannelTransport>

  /// A client over a running gRPC client.
  public init(_ client: GRPCClient<ChannelTransport>) {
    stub = Grpc_Health_V1_Health.Client(wrapping: client)
  }

  /// The serving status of `service` ("" = the whole process).
  public func check(service: String = "", timeout: Duration? = .seconds(5)) async throws -> Grpc_Health_V1_HealthCheckResponse.ServingStatus {
    var request = Grpc_Health_V1_HealthCheckRequest()
    request.service = service
    return try await stub.check(request, options: callOptions(timeout: timeout)).status
  }
}
