import BCTProcess
import BCTTestSupport
import Foundation
import Testing

/// One request followed through the CLI, bct-retrieval and bct-encoder by its
/// W3C trace id, and per-version health over gRPC.
@Suite("Request tracing and per-version health", .serialized)
struct TracingTests {
  /// All of a service's log so far.
  static func log(_ file: URL) -> String {
    (try? String(contentsOf: file, encoding: .utf8)) ?? ""
  }

  /// The lines of `log` that name `traceID`.
  static func lines(of log: String, naming traceID: String) -> [String] {
    log.split(separator: "\n").map(String.init).filter { $0.contains("trace_id=\(traceID)") }
  }

  @Test("one trace id appears in the CLI's, the retrieval's and the encoder's log lines")
  func traceAcrossServices() async throws {
    let encoder = try await Fixtures.startEncoder(try await Fixtures.trainedRepository())
    let retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-trace-data"))
    defer { Task { await retrieval.kill9(); await encoder.kill9() } }
    let env = ["BCT_ENCODER": "127.0.0.1:\(encoder.port)", "BCT_RETRIEVAL": "127.0.0.1:\(retrieval.port)"]

    // A trace the CLI starts: its id is on its own log line.
    var result = try await Fixtures.command(
      ["upsert", "--split", "test", "--range", "0-9", "--model-version", "v1", "--log-level", "info"], environment: env)
    #expect(result.status == 0, "\(result)")
    let cliLine = try #require(result.error.split(separator: "\n").first { $0.contains("command finished") }, "\(result.error)")
    let traceID = try #require(cliLine.split(separator: " ").first { $0.hasPrefix("trace_id=") }?.dropFirst(9))
    #expect(traceID.count == 32 && cliLine.contains("command=upsert"), "\(cliLine)")
    let cliSpan = try #require(cliLine.split(separator: " ").first { $0.hasPrefix("span_id=") }?.dropFirst(8))

    // The services log their request lines as they finish; give them a moment.
    var retrievalLines: [String] = [], encoderLines: [String] = []
    for _ in 0..<50 {
      retrievalLines = Self.lines(of: Self.log(retrieval.logFile), naming: String(traceID))
      encoderLines = Self.lines(of: Self.log(encoder.logFile), naming: String(traceID))
      if !retrievalLines.isEmpty && !encoderLines.isEmpty { break }
      try await Task.sleep(for: .milliseconds(100))
    }
    #expect(retrievalLines.contains { $0.contains("method=bct.v1.Retrieval/Upsert") && $0.contains("code=ok") },
            "\(retrieval.logTail)")
    // The CLI talks to bct-retrieval only; bct-retrieval calls Embed for the upsert.
    let embed = try #require(encoderLines.first { $0.contains("method=bct.v1.Encoder/Embed") }, "\(encoder.logTail)")
    // The encoder's span is a child of the retrieval's span.
    let retrievalSpan = try #require(retrievalLines.first { $0.contains("Upsert") }?.split(separator: " ")
      .first { $0.hasPrefix("span_id=") }?.dropFirst(8))
    #expect(embed.contains("parent_id=\(retrievalSpan)"), "\(embed)")
    #expect(retrievalLines.contains { $0.contains("Upsert") && $0.contains("parent_id=\(cliSpan)") }, "\(retrievalLines)")

    // A trace the caller gives (TRACEPARENT) is continued, failures name it too.
    let given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    result = try await Fixtures.command(
      ["search", "--split", "test", "--range", "0-0", "-k", "0"], environment: env.merging(["TRACEPARENT": given]) { $1 })
    #expect(result.status == 1 && result.error.contains("INVALID_ARGUMENT")
            && result.error.contains("trace_id 0af7651916cd43dd8448eb211c80319c"), "\(result)")
    var failed: [String] = []
    for _ in 0..<50 {
      failed = Self.lines(of: Self.log(retrieval.logFile), naming: "0af7651916cd43dd8448eb211c80319c")
      if !failed.isEmpty { break }
      try await Task.sleep(for: .milliseconds(100))
    }
    #expect(failed.contains { $0.contains("method=bct.v1.Retrieval/Search") && $0.contains("code=invalidArgument") },
            "\(retrieval.logTail)")
    result = try await Fixtures.command(["stats", "--traceparent", "00-xyz"], environment: env)
    #expect(result.status != 0 && result.error.contains("--traceparent"), "\(result)")

    // Per-version health over gRPC.
    result = try await Fixtures.command(["health", "--model-version", "v2"], environment: env)
    #expect(result.status == 0 && result.output.contains("encoder/v2") && result.output.contains("serving"), "\(result)")
    result = try await Fixtures.command(["health", "--model-version", "v9"], environment: env)
    #expect(result.status == 1 && result.output.contains("unknown"), "\(result)")

    #expect(await retrieval.terminate() == 0)
    #expect(await encoder.terminate() == 0)
  }
}

/// Spans exported over OTLP/gRPC to a collector the test starts.
@Suite("Spans exported over OTLP", .serialized)
struct OTLPExportTests {
  /// One span as the collector wrote it.
  struct ExportedSpan: Decodable {
    var service: String
    var name: String
    var trace_id: String
    var span_id: String
    var parent_span_id: String
  }

  static func spans(_ file: URL) -> [ExportedSpan] {
    let text = (try? String(contentsOf: file, encoding: .utf8)) ?? ""
    return text.split(separator: "\n").compactMap { try? JSONDecoder().decode(ExportedSpan.self, from: Data($0.utf8)) }
  }

  @Test("with OTEL_EXPORTER_OTLP_ENDPOINT set, one bct upsert is one trace: the CLI's span, bct-retrieval's Upsert under it, bct-encoder's Embed under that")
  func upsertTrace() async throws {
    let python = try #require(ProcessInfo.processInfo.environment["BCT_TEST_PYTHON"], "run through scripts/test.sh (it sets BCT_TEST_PYTHON)")
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let file = Fixtures.temporaryFolder("bct-otlp").appendingPathComponent("spans.jsonl")
    let collector = try await ServiceProcess(
      executable: URL(fileURLWithPath: python), arguments: [root.appendingPathComponent("scripts/otlp-collector.py").path, file.path],
      name: "otlp-collector")
    let otel = ["OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:\(collector.port)", "OTEL_BSP_SCHEDULE_DELAY": "100"]
    let encoder = try await Fixtures.startEncoder(try await Fixtures.trainedRepository(), environment: otel)
    let retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-otlp-data"), environment: otel)
    defer { Task { await retrieval.kill9(); await encoder.kill9(); await collector.kill9() } }

    let result = try await Fixtures.command(
      ["upsert", "--split", "test", "--range", "0-4", "--model-version", "v1"],
      environment: otel.merging(["BCT_RETRIEVAL": "127.0.0.1:\(retrieval.port)"]) { $1 })
    #expect(result.status == 0, "\(result)")
    var spans: [ExportedSpan] = []
    var command: ExportedSpan?, upsert: ExportedSpan?, embed: ExportedSpan?
    for _ in 0..<100 {
      spans = Self.spans(file)
      command = spans.first { $0.service == "bct" && $0.name == "bct upsert" }
      upsert = spans.first { $0.service == "bct-retrieval" && $0.name == "bct.v1.Retrieval/Upsert" && $0.parent_span_id == command?.span_id }
      embed = spans.first { $0.service == "bct-encoder" && $0.name == "bct.v1.Encoder/Embed" && $0.parent_span_id == upsert?.span_id }
      if embed != nil { break }
      try await Task.sleep(for: .milliseconds(100))
    }
    let cli = try #require(command, "\(spans)")
    #expect(cli.parent_span_id.isEmpty && cli.trace_id.count == 32)
    let server = try #require(upsert, "\(spans)")
    let encoderSpan = try #require(embed, "\(spans)")
    #expect(server.trace_id == cli.trace_id && encoderSpan.trace_id == cli.trace_id)
    #expect(await retrieval.terminate() == 0)
    #expect(await encoder.terminate() == 0)
  }
}
