import GRPCCore
import Instrumentation
import Logging
import Synchronization
import Tracing
import W3CTraceContext

/// Continues the caller's trace (a new one when the request carries no valid
/// `traceparent`) in a server span of the method's name, runs the RPC in it, answers
/// the span in the `traceresponse` header, and logs one line per finished RPC:
/// method, status code, duration, peer, and the trace, span and parent span ids.
///
/// Health checks are logged at debug level (orchestrators poll them); every other
/// RPC at info.
public struct ServerTracing: ServerInterceptor {
  private let telemetry: Telemetry
  private let logger: Logger
  private let rejections: RejectionSummary

  /// An interceptor starting spans with `telemetry`'s tracer and logging to `logger`.
  public init(telemetry: Telemetry, logger: Logger) {
    self.telemetry = telemetry
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
    var parent = InstrumentationContext.topLevel
    telemetry.tracer.extract(request.metadata, into: &parent, using: MetadataPropagation())
    let method = context.descriptor.fullyQualifiedMethod
    let span = telemetry.startSpan(method, context: parent, ofKind: .server)
    span.attributes["rpc.system"] = "grpc"
    span.attributes["rpc.method"] = method
    let finish = SpanEnd(span: span, line: RequestLine(
      logger: logger, method: method, peer: context.remotePeer, spanMetadata: Self.logMetadata(of: span, request: request),
      level: context.descriptor.service.fullyQualifiedService == "grpc.health.v1.Health" ? .debug : .info,
      rejections: rejections))
    let start = ContinuousClock.now
    var response: StreamingServerResponse<Output>
    do {
      response = try await InstrumentationContext.withValue(span.context) { try await next(request, context) }
    } catch {
      finish(error: error, since: start)
      throw error
    }
    switch response.accepted {
    case .success(var contents):
      var answer = Metadata()
      telemetry.tracer.inject(span.context, into: &answer, using: MetadataPropagation())
      if let header = answer[stringValues: "traceparent"].first(where: { _ in true }) {
        contents.metadata.replaceOrAddString(header, forKey: Self.responseHeaderName)
      }
      let producer = contents.producer
      contents.producer = { writer in
        do {
          let trailers = try await InstrumentationContext.withValue(span.context) { try await producer(writer) }
          finish(error: nil, since: start)
          return trailers
        } catch {
          finish(error: error, since: start)
          throw error
        }
      }
      response.accepted = .success(contents)
    case .failure(let error):
      finish(error: error, since: start)
    }
    return response
  }

  /// `trace_id` and `span_id` of `span`, and the caller's span (from its `traceparent`) as `parent_id`.
  private static func logMetadata<Input>(of span: any Span, request: StreamingServerRequest<Input>) -> Logger.Metadata {
    var metadata = InstrumentationContext.withValue(span.context) { Telemetry.metadataProvider.get() }
    metadata.removeValue(forKey: "trace_flags")
    if let header = request.metadata[stringValues: "traceparent"].first(where: { _ in true }),
       let caller = try? W3CTraceContext.TraceContext(traceParentHeaderValue: header) {
      metadata["parent_id"] = "\(caller.spanID)"
    }
    return metadata
  }
}

/// Ends an RPC's span with its status and writes its log line, once.
private struct SpanEnd: Sendable {
  let span: any Span
  let line: RequestLine

  func callAsFunction(error: (any Error)?, since start: ContinuousClock.Instant) {
    if let error {
      let code = (error as? RPCError).map { "\($0.code)" } ?? "unknown"
      span.attributes["rpc.grpc.status_code"] = code
      span.recordError(error)
      span.setStatus(SpanStatus(code: .error, message: code))
    } else {
      span.attributes["rpc.grpc.status_code"] = "ok"
    }
    span.end()
    line.write(error: error, since: start)
  }
}

/// One RPC's log line.
private struct RequestLine: Sendable {
  let logger: Logger
  let method: String
  let peer: String
  /// The span's trace and span ids, and the caller's span as `parent_id`.
  let spanMetadata: Logger.Metadata
  let level: Logger.Level
  let rejections: RejectionSummary

  func write(error: (any Error)?, since start: ContinuousClock.Instant) {
    let elapsed = ContinuousClock.now - start
    let milliseconds = Double(elapsed.components.seconds) * 1e3 + Double(elapsed.components.attoseconds) / 1e15
    var metadata = spanMetadata
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

/// Sends `traceparent` (and `tracestate`) on every call, naming the current span
/// (the task's `InstrumentationContext`) as the callee's parent (client calls are
/// not spans of their own, so the parent is a span some log line names), or a new
/// trace when the caller runs outside one. A `traceparent` the caller set itself
/// is left as it is.
public struct ClientTracing: ClientInterceptor {
  private let telemetry: Telemetry

  /// An interceptor propagating the current span with `telemetry`'s tracer.
  public init(telemetry: Telemetry) {
    self.telemetry = telemetry
  }

  public func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>,
    context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    guard request.metadata[stringValues: "traceparent"].first(where: { _ in true }) == nil else {
      return try await next(request, context)
    }
    var request = request
    if let current = InstrumentationContext.current {
      telemetry.tracer.inject(current, into: &request.metadata, using: MetadataPropagation())
      return try await next(request, context)
    }
    // Outside any span: the call starts its own trace.
    return try await telemetry.withSpan(context.descriptor.fullyQualifiedMethod, context: .topLevel, ofKind: .client) { span in
      telemetry.tracer.inject(span.context, into: &request.metadata, using: MetadataPropagation())
      return try await next(request, context)
    }
  }
}
