import Logging

/// A W3C Trace Context position (https://www.w3.org/TR/trace-context/): the trace
/// one request belongs to and the span (one service's part of it) being run.
///
/// Carried between processes in the `traceparent` header
/// (`00-<trace id: 32 hex>-<span id: 16 hex>-<flags: 2 hex>`) and within a
/// process as the task-local `current`, so that every log line and every outgoing
/// call made while serving a request names the same trace.
public struct TraceContext: Sendable, Hashable, CustomStringConvertible {
  /// The trace id, 32 lowercase hex digits, never all zeros.
  public let traceID: String
  /// This span's id, 16 lowercase hex digits, never all zeros.
  public let spanID: String
  /// The span that called this one ("" for a trace's first span).
  public let parentSpanID: String
  /// The trace flags (bit 0: sampled).
  public let flags: UInt8
  /// The caller's `tracestate` header, passed on unchanged ("" when none).
  public let state: String

  /// The header that carries a trace context.
  public static let headerName = "traceparent"
  /// The header that carries vendor trace state alongside it.
  public static let stateHeaderName = "tracestate"

  /// The context of the request being served, if any.
  @TaskLocal public static var current: TraceContext?

  /// A new trace: random trace and span ids, sampled.
  public static func newTrace() -> TraceContext {
    TraceContext(traceID: randomHex(bytes: 16), spanID: randomHex(bytes: 8), parentSpanID: "", flags: 1, state: "")
  }

  /// A context with the given parts (already valid; see `init?(header:state:)` to parse).
  init(traceID: String, spanID: String, parentSpanID: String, flags: UInt8, state: String) {
    self.traceID = traceID
    self.spanID = spanID
    self.parentSpanID = parentSpanID
    self.flags = flags
    self.state = state
  }

  /// The span a `traceparent` header (and optional `tracestate`) describes, or nil when
  /// the header is malformed, in which case the specification asks for a new trace.
  ///
  /// Version 00 must be exactly 55 characters; later versions may append fields
  /// after a dash, which are ignored. Version ff, upper-case hex and all-zero ids
  /// are invalid.
  public init?(header: String, state: String = "") {
    let bytes = Array(header.utf8)
    guard bytes.count >= 55 else { return nil }
    let version = String(decoding: bytes[0..<2], as: UTF8.self)
    guard Self.isHex(bytes[0..<2]), version != "ff" else { return nil }
    if version == "00" { guard bytes.count == 55 else { return nil } } else if bytes.count > 55 && bytes[55] != UInt8(ascii: "-") {
      return nil
    }
    let dash = UInt8(ascii: "-")
    guard bytes[2] == dash, bytes[35] == dash, bytes[52] == dash,
      Self.isHex(bytes[3..<35]), Self.isHex(bytes[36..<52]), Self.isHex(bytes[53..<55])
    else { return nil }
    let trace = String(decoding: bytes[3..<35], as: UTF8.self)
    let parent = String(decoding: bytes[36..<52], as: UTF8.self)
    guard trace != String(repeating: "0", count: 32), parent != String(repeating: "0", count: 16),
      let flags = UInt8(String(decoding: bytes[53..<55], as: UTF8.self), radix: 16)
    else { return nil }
    self.init(traceID: trace, spanID: parent, parentSpanID: "", flags: flags, state: state)
  }

  /// A new span of the same trace, called by this one.
  public func child() -> TraceContext {
    TraceContext(traceID: traceID, spanID: Self.randomHex(bytes: 8), parentSpanID: spanID, flags: flags, state: state)
  }

  /// The `traceparent` header naming this span.
  public var header: String {
    "00-\(traceID)-\(spanID)-\(String(flags >> 4, radix: 16))\(String(flags & 0xF, radix: 16))"
  }

  public var description: String { header }

  /// Log metadata naming this span: `trace_id`, `span_id` and, when known, `parent_id`.
  public var logMetadata: Logger.Metadata {
    var metadata: Logger.Metadata = ["trace_id": "\(traceID)", "span_id": "\(spanID)"]
    if !parentSpanID.isEmpty { metadata["parent_id"] = "\(parentSpanID)" }
    return metadata
  }

  /// A metadata provider adding the current trace (if any) to every log line.
  public static let metadataProvider = Logger.MetadataProvider {
    current?.logMetadata ?? [:]
  }

  private static func isHex(_ bytes: ArraySlice<UInt8>) -> Bool {
    bytes.allSatisfy { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains($0) }
  }

  private static func randomHex(bytes: Int) -> String {
    var generator = SystemRandomNumberGenerator()
    while true {
      var text = ""
      var nonZero = false
      for _ in 0..<bytes {
        let byte = UInt8.random(in: 0...255, using: &generator)
        nonZero = nonZero || byte != 0
        text += (byte < 16 ? "0" : "") + String(byte, radix: 16)
      }
      if nonZero { return text }
    }
  }
}
