import BCTClient
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import Testing

/// kill -9 of an HNSW `bct-retrieval` while it writes the graphs beside a snapshot
/// (the moment its temporary graph file exists): after the restart every
/// acknowledged write is there and searchable, nothing half-written is left, and a
/// graph saved whole is read back instead of rebuilt.
@Suite("HNSW graph save survives kill -9", .serialized)
struct GraphSaveCrashTests {
  @Test("kill -9 while the graphs are being saved loses no acknowledged write; a whole saved graph is read back")
  func killDuringGraphSave() async throws {
    let encoder = try await Fixtures.startEncoder(try await RetrievalProcessTests.repository())
    let data = Fixtures.temporaryFolder("bct-graph-crash")
    let extra = ["--index", "hnsw", "--hnsw-m", "8", "--hnsw-ef-construction", "40", "--snapshot-changes", "1"]
    var retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: extra)
    let started = StartedProcesses(encoder, retrieval)
    defer { Task { await started.killAll() } }
    let temporary = data.appendingPathComponent(".graphs.tmp")
    let acknowledged = Acknowledged()
    let port = retrieval.port
    let writer = Task {
      try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: port)) { connection in
        let client = RetrievalClient(connection)
        for batch in 0..<100 {
          _ = try await client.upsert(RetrievalProcessTests.upsertRequest((batch * 100)..<((batch + 1) * 100), version: "v1"))
          acknowledged.state.withLock { $0.created += ((batch * 100)..<((batch + 1) * 100)).map { "test-\($0)" } }
        }
      }
    }
    // Kill the moment a graph file is being written, once some writes are acknowledged.
    let patience = ContinuousClock.now + .seconds(120)
    var caught = false
    while ContinuousClock.now < patience {
      if acknowledged.state.withLock({ $0.created.count }) >= 1_000 && FileManager.default.fileExists(atPath: temporary.path) {
        caught = true
        break
      }
      try await Task.sleep(for: .microseconds(200))
    }
    await retrieval.kill9()
    _ = await writer.result
    #expect(caught, "no graph save was seen in progress")
    let written = acknowledged.state.withLock { $0.created }
    retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: extra)
    started.add(retrieval)
    try await expectAll(written, on: retrieval.port)
    #expect(!FileManager.default.fileExists(atPath: temporary.path), "the torn graph file is removed at start")

    // A graph saved whole is read back after the next kill -9.
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: retrieval.port)) { connection in
      _ = try await RetrievalClient(connection).upsert(RetrievalProcessTests.upsertRequest(9_900..<9_910, version: "v1"))
    }
    let saved = ContinuousClock.now + .seconds(60)
    while ContinuousClock.now < saved && (try? Self.hasGraphFile(data)) != true { try await Task.sleep(for: .milliseconds(50)) }
    try await Task.sleep(for: .milliseconds(300))
    await retrieval.kill9()
    retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: extra)
    started.add(retrieval)
    try await expectAll(written + (9_900..<9_910).map { "test-\($0)" }, on: retrieval.port)
    #expect(retrieval.logTail.contains("graphs_loaded=1"), "\(retrieval.logTail)")
    await retrieval.kill9()
    await encoder.kill9()
  }

  static func hasGraphFile(_ data: URL) throws -> Bool {
    try FileManager.default.contentsOfDirectory(atPath: data.path).contains { $0.hasPrefix("graphs-") }
  }

  /// Every id in `ids` is stored, and a search by one's own raw input finds it.
  func expectAll(_ ids: [String], on port: Int) async throws {
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: port)) { connection in
      let client = RetrievalClient(connection)
      for chunk in stride(from: 0, to: ids.count, by: 500) {
        let asked = Array(ids[chunk..<min(ids.count, chunk + 500)])
        let got = try await client.get(.with { $0.ids = asked })
        #expect(got.missing.isEmpty, "acknowledged writes lost: \(got.missing.prefix(5))")
      }
      let probe = try #require(ids.last.flatMap { Int($0.dropFirst(5)) })
      let hits = try await client.search(RetrievalProcessTests.rawSearch(probe..<(probe + 1), k: 1, version: "v1"))
      #expect(hits.results.first?.hits.first?.id == "test-\(probe)")
    }
  }
}
