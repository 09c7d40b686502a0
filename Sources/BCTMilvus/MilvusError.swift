import GRPCCore

/// Why a call to Milvus failed, with the gRPC status a service should answer with.
public enum MilvusError: Error, Equatable, CustomStringConvertible {
  /// No answer from the server within the deadline and retries (down, wrong address, partitioned).
  case unreachable(address: String, detail: String)
  /// The server speaks an API version this client does not support, or lacks a call it needs.
  case unsupportedServer(address: String, detail: String)
  /// The server answered the call with an error status of its own.
  case rejected(call: String, code: Int32, reason: String)
  /// The server's reply does not have the shape the call asked for.
  case malformedReply(call: String, detail: String)
  /// A size limit of the server or of this client refused the call (a message larger
  /// than the gRPC limit, more results than the server returns).
  case limitExceeded(call: String, detail: String)

  public var description: String {
    switch self {
    case .unreachable(let address, let detail): "Milvus at \(address) cannot be reached: \(detail)"
    case .unsupportedServer(let address, let detail): "Milvus at \(address) is not supported: \(detail)"
    case .rejected(let call, let code, let reason): "Milvus refused \(call) (code \(code)): \(reason)"
    case .malformedReply(let call, let detail): "Milvus answered \(call) with a malformed reply: \(detail)"
    case .limitExceeded(let call, let detail): "Milvus \(call) is over a size limit: \(detail)"
    }
  }

  /// The status a gRPC service relays this error with: UNAVAILABLE for a server that
  /// cannot be reached (a client may retry), FAILED_PRECONDITION for one of an
  /// unsupported version (the deployment must change), RESOURCE_EXHAUSTED for a size
  /// limit (a smaller request passes), INTERNAL otherwise.
  public var rpcError: RPCError {
    switch self {
    case .unreachable: RPCError(code: .unavailable, message: description)
    case .unsupportedServer: RPCError(code: .failedPrecondition, message: description)
    case .limitExceeded: RPCError(code: .resourceExhausted, message: description)
    case .rejected, .malformedReply: RPCError(code: .internalError, message: description)
    }
  }
}
