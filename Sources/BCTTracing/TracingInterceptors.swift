import GRPCCore
import Logging
import Synchronization

/// Continues the caller's trace (or starts one when the request carries no valid
/// `traceparent`), runs the RPC with it as `TraceContext.current`, answers it in
/// the `traceresponse` header, and logs one line per finished RPC: method, status
/// code, duration, peer and the trace ids.
///
/// Health checks are logged at debug level (orchestrators poll them); every other
/// RPC at info.
public struct ServerTracing: ServerInterceptor {
  private let logger: Logger
  private let rejections: RejectionSummary

  /// An interceptor logging to `logger`.
  public init(logger: Logger) {
    self.logger = logger
    self.rejections = RejectionSummary(logger: logger)
  }

  /// The response header naming the server's span (W3C Trace Context level 2).
  public static let responseHeaderName = "traceresponse"

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let state = request.metadata.firstString(TraceContext.stateHeaderName) ?? ""
    let caller = request.metadata.firstString(TraceContext.headerName)
      .flatMap { TraceContext(header: $0, state: state) }
    let span = caller?.child() ?? TraceContext.newTrace()
    let start = ContinuousClock.now
    let line = RequestLine(
      logger: logger, method: context.descriptor.fullyQualifiedMethod, peer: context.remotePeer, span: span,
      level: context.descriptor.service.fullyQualifiedService == "grpc.health.v1.Health" ? .debug : .info,
      rejections: rejections)
    var response: StreamingServerResponse<Output>
    do {
      response = try await TraceContext.$current.withValue(span) { try await next(request, context) }
    } catch {
      line.write(error: error, since: start)
      throw error
    }
    switch response.accepted {
    case .success(var contents):
      contents.metadata.replaceOrAddString(span.header, forKey: Self.responseHeaderName)
      let producer = contents.producer
      contents.producer = { writer in
        do {
          let trailers = try await TraceContext.$current.withValue(span) { try await producer(writer) }
          line.write(error: nil, since: start)
          return trailers
        } catch {
          line.write(error: error, since: start)
          throw error
        }
      }
      response.accepted = .success(contents)
    case .failure(let error):
      line.write(error: error, since: start)
    }
    return response
  }
}

/// One RPC's log line.
private struct RequestLine: Sendable {
  let logger: Logger
  let method: String
  let peer: String
  let span: TraceContext
  let level: Logger.Level
  let rejections: RejectionSummary

  func write(error: (any Error)?, since start: ContinuousClock.Instant) {
    let elapsed = ContinuousClock.now - start
    let milliseconds = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
    var metadata = span.logMetadata
    metadata["method"] = "\(method)"
    metadata["peer"] = "\(peer)"
    metadata["ms"] = "\((milliseconds * 1000).rounded() / 1000)"
    if let error {
      let rpc = error as? RPCError
      metadata["code"] = "\(rpc.map { "\($0.code)" } ?? "unknown")"
      metadata["error"] = "\(rpc?.message ?? "\(error)")"
    } else {
      metadata["code"] = "ok"
    }
    // Requests without a valid token cost nothing to send: each is logged at
    // debug level only, and summed up at most once a minute (RejectionSummary).
    if (error as? RPCError)?.code == .unauthenticated {
      rejections.count(peer: peer)
      logger.log(level: .debug, "rpc", metadata: metadata)
      return
    }
    logger.log(level: level, "rpc", metadata: metadata)
  }
}

/// Counts unauthenticated requests and logs one warning line per minute at most
/// with how many there were and the last peer, so that a client without the
/// token cannot flood the log.
final class RejectionSummary: Sendable {
  private struct State {
    var count = 0
    var lastPeer = ""
    var lastLine: ContinuousClock.Instant?
  }
  private let state = Mutex(State())
  private let logger: Logger
  static let interval: Duration = .seconds(60)

  init(logger: Logger) { self.logger = logger }

  func count(peer: String) {
    let due = state.withLock { state -> (Int, String)? in
      state.count += 1
      state.lastPeer = peer
      if let last = state.lastLine, ContinuousClock.now - last < Self.interval { return nil }
      defer { state.count = 0; state.lastLine = .now }
      return (state.count, state.lastPeer)
    }
    guard let (count, peer) = due else { return }
    logger.warning("unauthenticated requests rejected", metadata: ["count": "\(count)", "last_peer": "\(peer)", "window_s": "60"])
  }
}

/// Sends `traceparent` (and `tracestate`) on every call, naming
/// `TraceContext.current` as the callee's parent span (client calls are not
/// spans of their own, so the parent is a span some log line names), or a new
/// trace when the caller runs outside one. A `traceparent` the caller set itself
/// is left as it is.
public struct ClientTracing: ClientInterceptor {
  /// An interceptor.
  public init() {}

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>,
    context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    guard request.metadata.firstString(TraceContext.headerName) == nil else {
      return try await next(request, context)
    }
    let span = TraceContext.current ?? TraceContext.newTrace()
    var request = request
    request.metadata.replaceOrAddString(span.header, forKey: TraceContext.headerName)
    if !span.state.isEmpty { request.metadata.replaceOrAddString(span.state, forKey: TraceContext.stateHeaderName) }
    return try await next(request, context)
  }
}

extension Metadata {
  /// The first string value under `key`, if any.
  fileprivate func firstString(_ key: String) -> String? {
    self[stringValues: key].first(where: { _ in true })
  }
}
