import GRPCCore

/// Checks `authorization: Bearer <token>` on every RPC except health checks
/// (so that probes need no secret); a missing or wrong token is UNAUTHENTICATED.
/// The comparison takes the same time wherever the tokens differ.
public struct BearerTokenAuth: ServerInterceptor {
  private let expected: [UInt8]

  /// Requires `token` (non-empty).
  public init(token: String) {
    precondition(!token.isEmpty, "an empty token would accept everyone")
    expected = Array("Bearer \(token)".utf8)
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    if context.descriptor.service.fullyQualifiedService == "grpc.health.v1.Health" {
      return try await next(request, context)
    }
    let given = request.metadata[stringValues: "authorization"].first(where: { _ in true }) ?? ""
    guard Self.constantTimeEquals(Array(given.utf8), expected) else {
      throw RPCError(code: .unauthenticated, message: given.isEmpty
        ? "missing bearer token: send the header `authorization: Bearer <token>`"
        : "invalid bearer token")
    }
    return try await next(request, context)
  }

  /// Equality whose running time depends only on the lengths.
  public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
    var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
    let n = max(a.count, b.count)
    for i in 0..<n {
      let x = i < a.count ? a[i] : 0
      let y = i < b.count ? b[i] : 0
      difference |= x ^ y
    }
    return difference == 0
  }
}
