import BCTTracing
import Instrumentation
import Logging
import Testing
import Tracing

/// The telemetry every process uses: W3C trace context in and out, ids on log lines.
@Suite("Trace context through the telemetry")
struct TraceContextTests {
  let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

  @Test("a caller's traceparent is continued: same trace, a new span, and the caller's span named in what is sent on")
  func continueCallerTrace() async throws {
    let telemetry = try Telemetry.make(serviceName: "test", environment: [:])
    #expect(!telemetry.exporting)
    let parent = telemetry.context(continuing: ["traceparent": valid])
    let (ids, sent) = await telemetry.withSpan("child", context: parent, ofKind: .server) { span in
      var headers: [String: String] = [:]
      telemetry.tracer.inject(span.context, into: &headers, using: Headers())
      return (Telemetry.metadataProvider.get(), headers["traceparent"] ?? "")
    }
    #expect(ids["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
    let spanID = try #require(ids["span_id"].map { "\($0)" })
    #expect(spanID.count == 16 && spanID != "00f067aa0ba902b7")
    #expect(sent == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(spanID)-01")
    #expect(Telemetry.metadataProvider.get().isEmpty, "no span outside the body")
  }

  @Test("without a caller, each span starts a trace of its own with valid ids")
  func newTraces() async throws {
    let telemetry = try Telemetry.make(serviceName: "test", environment: [:])
    var traces = Set<String>()
    for _ in 0..<50 {
      let id = await telemetry.withSpan("root", context: telemetry.context(continuing: [:]), ofKind: .client) { _ in
        Telemetry.metadataProvider.get()["trace_id"].map { "\($0)" } ?? ""
      }
      #expect(id.count == 32 && id != String(repeating: "0", count: 32))
      traces.insert(id)
    }
    #expect(traces.count == 50)
  }

  @Test("malformed traceparent headers are refused, so the receiver starts a new trace")
  func refuseMalformed() throws {
    #expect(Telemetry.isTraceparent(valid))
    for header in [
      "", "00", valid + "-",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    ] {
      #expect(!Telemetry.isTraceparent(header), "\(header)")
    }
    let telemetry = try Telemetry.make(serviceName: "test", environment: [:])
    let context = telemetry.context(continuing: ["traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"])
    var headers: [String: String] = [:]
    telemetry.tracer.inject(context, into: &headers, using: Headers())
    #expect(headers["traceparent"] == nil, "a malformed header continues nothing")
  }
}

/// Headers in a dictionary.
private struct Headers: Injector {
  func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
