import BCTTracing
import Logging
import Testing

@Suite("W3C trace context")
struct TraceContextTests {
  let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

  @Test("a valid traceparent parses; a child keeps the trace, gets a new span, and names its parent")
  func parseAndChild() throws {
    let caller = try #require(TraceContext(header: valid, state: "vendor=1"))
    #expect(caller.traceID == "4bf92f3577b34da6a3ce929d0e0e4736" && caller.spanID == "00f067aa0ba902b7" && caller.flags == 1)
    #expect(caller.header == valid)
    let child = caller.child()
    #expect(child.traceID == caller.traceID && child.parentSpanID == caller.spanID && child.spanID != caller.spanID)
    #expect(child.state == "vendor=1" && child.flags == 1)
    #expect(TraceContext(header: child.header)?.spanID == child.spanID)
    #expect(child.logMetadata["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736")
    #expect(child.logMetadata["parent_id"] == "00f067aa0ba902b7")
    let unsampled = try #require(TraceContext(header: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"))
    #expect(unsampled.flags == 0 && unsampled.child().header.hasSuffix("-00"))
  }

  @Test("malformed headers are refused, so the receiver starts a new trace")
  func refuseMalformed() {
    for header in [
      "", "00", valid + "-",
      "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  // upper case
      "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  // zero trace id
      "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  // zero span id
      "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  // forbidden version
      "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7_01",
      "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
      "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
      "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
    ] {
      #expect(TraceContext(header: header) == nil, "\(header)")
    }
    // A later version may append fields after a dash.
    #expect(TraceContext(header: "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra")?.spanID == "00f067aa0ba902b7")
  }

  @Test("new traces have valid, distinct ids; the metadata provider reads the task's trace")
  func newTraces() async {
    let traces = (0..<100).map { _ in TraceContext.newTrace() }
    #expect(Set(traces.map(\.traceID)).count == 100)
    for trace in traces { #expect(TraceContext(header: trace.header)?.traceID == trace.traceID) }
    #expect(TraceContext.metadataProvider.get().isEmpty)
    TraceContext.$current.withValue(traces[0]) {
      #expect(TraceContext.metadataProvider.get()["trace_id"] == "\(traces[0].traceID)")
    }
  }
}
