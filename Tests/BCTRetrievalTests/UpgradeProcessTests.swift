import BCTClient
import BCTNumerics
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import GRPCCore
import Testing

/// Upgrades through the real `bct-encoder` and `bct-retrieval` processes, with
/// models trained by `bct train` in the test: v2 certified against v1, v3 of the
/// same lineage certified against neither.
@Suite("Upgrades through the real services: certified in place, uncertified by shadow backfill", .serialized)
struct UpgradeProcessTests {
  static func repository() async throws -> URL { try await repositoryBuild.value }
  private static let repositoryBuild = Task<URL, any Error> { try await Fixtures.repositoryWithUncertifiedVersion() }
  typealias Ranked = [[String]]

  static func ids(_ response: Bct_V1_SearchResponse) -> Ranked { response.results.map { $0.hits.map(\.id) } }

  static func search(_ client: RetrievalClient, version: String = "", allowUncertified: Bool = false) async throws -> Bct_V1_SearchResponse {
    var request = RetrievalProcessTests.rawSearch(0..<20, k: 10, version: version)
    request.allowUncertified = allowUncertified
    return try await client.search(request, timeout: .seconds(30))
  }

  /// The exact top-10 of queries 0..<20 over documents 0..<count, everything embedded with `version` by the encoder.
  static func exact(_ encoder: EncoderClient, version: String, count: Int) async throws -> Ranked {
    let test = RetrievalProcessTests.test
    var values: [Float] = []
    for start in stride(from: 0, to: count, by: 200) {
      values += try await encoder.embed(test.inputs.rows(start..<min(count, start + 200)), rowShape: [1, 28, 28], version: version).embeddings.values
    }
    let docs = Matrix(rows: count, columns: values.count / count, values: values)
    let queries = try await encoder.embed(test.inputs.rows(0..<20), rowShape: [1, 28, 28], version: version).embeddings
    return (0..<queries.rows).map { q in
      let scores = (0..<docs.rows).map { d in (0..<docs.columns).reduce(Float(0)) { $0 + queries.values[q * docs.columns + $1] * docs.values[d * docs.columns + $1] } }
      return (0..<docs.rows).sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : "test-\($0)" < "test-\($1)" }.prefix(10).map { "test-\($0)" }
    }
  }

  static func index(_ client: RetrievalClient, count: Int) async throws {
    for start in stride(from: 0, to: count, by: 200) {
      _ = try await client.upsert(RetrievalProcessTests.upsertRequest(start..<min(count, start + 200), version: "v1"))
    }
  }

  static func backfillRequest(_ target: String, batch: UInt32, rate: Double) -> Bct_V1_BackfillRequest {
    var request = Bct_V1_BackfillRequest()
    request.targetVersion = target
    request.batchSize = batch
    request.maxDocumentsPerSecond = rate
    return request
  }

  /// Rankings agree when the ids match, allowing swaps of neighbours whose
  /// scores differ by float rounding (the service ranks with SGEMM, the test with a loop).
  static func same(_ a: Ranked, _ b: Ranked) -> Bool {
    zip(a, b).allSatisfy { x, y in Set(x.prefix(9)).isSubset(of: Set(y)) && x.first == y.first } && a.count == b.count
  }

  @Test("certified v2 searches v1 documents at once; uncertified v3 is refused with its figures; its shadow backfill leaves results exactly v1's until the switch, then v3's exact results; rollback, then finalize", arguments: StoreKind.allCases)
  func certifiedAndShadow(store: StoreKind) async throws {
    try await store.with { storeArguments in try await certifiedAndShadow(storeArguments) }
  }

  func certifiedAndShadow(_ storeArguments: [String]) async throws {
    let encoder = try await Fixtures.startEncoder(try await Self.repository())
    defer { Task { await encoder.kill9() } }
    let retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-shadow"), extra: storeArguments)
    try await RetrievalProcessTests.withClients(retrieval.port, { client, encoderClient in
      try await Self.index(client, count: 400)
      let certified = try await Self.search(client)
      #expect(certified.queryModelVersion == "v2" && certified.documentVersions == ["v1"], "the newest version certified against v1 is v2")
      let refused = await Fixtures.rpcError { try await Self.search(client, version: "v3") }
      #expect(refused?.code == .failedPrecondition)
      #expect(refused?.message.contains("v3 vs v1: NOT certified") == true && refused?.message.contains("top-1") == true, "\(String(describing: refused))")
      #expect(try await Self.search(client, version: "v3", allowUncertified: true).queryModelVersion == "v3")
      let before = Self.ids(try await Self.search(client))
      let expectedAfter = try await Self.exact(encoderClient, version: "v3", count: 400)

      // Shadow backfill, rate-limited so that searches run while it fills.
      let progress = ProgressLog()
      let backfill = Task {
        try await client.backfill(Self.backfillRequest("v3", batch: 20, rate: 40)) { await progress.add($0) }
      }
      var searchedWhileFilling = 0
      while true {
        let stats = try await client.stats()
        let response = try await Self.search(client)
        if response.queryModelVersion == "v3" { break }
        #expect(response.documentVersions == ["v1"])
        #expect(Self.ids(response) == before, "while filling, results are exactly v2-on-v1's")
        if stats.shadow.phase == .filling && stats.shadow.shadowDocuments > 0 { searchedWhileFilling += 1 }
        try await Task.sleep(for: .milliseconds(50))
      }
      let last = try await backfill.value
      #expect(searchedWhileFilling >= 1, "searches ran during the shadow fill")
      #expect(last?.state == .completed && last?.mode == .shadow && last?.shadow.phase == .switched)
      #expect(await progress.items.contains { $0.mode == .shadow && $0.shadow.phase == .filling && $0.shadow.otherEmbeddingBytes > 0 })
      let after = try await Self.search(client)
      #expect(after.queryModelVersion == "v3" && after.documentVersions == ["v3"])
      #expect(Self.same(Self.ids(after), expectedAfter), "after the switch, results are v3's exact results")
      let switched = try await client.stats()
      #expect(switched.shadow.phase == .switched && switched.shadow.otherEmbeddingBytes == 400 * 128 * 4)
      #expect(switched.embeddingBytes == 2 * 400 * 128 * 4)
      #expect(switched.defaultQueryVersion == "v3" && switched.documentVersion == "v3")

      // What an operator sees, then rollback within the grace period (through the CLI): back to exactly the old results.
      let address = ["--retrieval", "127.0.0.1:\(retrieval.port)", "--encoder", "127.0.0.1:\(encoder.port)"]
      let stats = try await Fixtures.command(["stats"] + address)
      #expect(stats.status == 0 && stats.output.contains("shadow upgrade       to v3 from v1: switched") && stats.output.contains("other copy 0.2 MiB"), "\(stats.output)")
      let wrongMode = try await Fixtures.command(["backfill", "--to", "v1", "--mode", "in-place"] + address)
      #expect(wrongMode.status == 1 && wrongMode.error.contains("FAILED_PRECONDITION"), "\(wrongMode.error)")
      let rolledBack = try await Fixtures.command(["backfill", "--rollback"] + address)
      #expect(rolledBack.status == 0 && rolledBack.output.contains("rolled back"), "\(rolledBack.output) \(rolledBack.error)")
      let again = try await Self.search(client)
      #expect(again.queryModelVersion == "v2" && Self.ids(again) == before)
      #expect(try await client.stats().hasShadow == false)

      // Upgrade again, then finalize: one copy left.
      _ = try await client.backfill(Self.backfillRequest("v3", batch: 100, rate: 0))
      try await client.backfill(.with { $0.finalize = true })
      let final = try await client.stats()
      #expect(!final.hasShadow && final.embeddingBytes == 400 * 128 * 4 && final.versions.map(\.modelVersion) == ["v3"])
      #expect(Self.same(Self.ids(try await Self.search(client)), expectedAfter))
    }, encoderPort: encoder.port)
    #expect(await retrieval.terminate() == 0)
  }

  @Test("kill -9 during the shadow backfill and around the switch: every restart searches all-old or all-new, never a mix, and the upgrade completes", arguments: StoreKind.allCases)
  func killDuringShadow(store: StoreKind) async throws {
    try await store.with { storeArguments in try await killDuringShadow(storeArguments) }
  }

  func killDuringShadow(_ storeArguments: [String]) async throws {
    let encoder = try await Fixtures.startEncoder(try await Self.repository())
    defer { Task { await encoder.kill9() } }
    let data = Fixtures.temporaryFolder("bct-shadow-kill")
    var retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: data, extra: ["--snapshot-changes", "5"] + storeArguments)
    let (before, expectedAfter) = try await RetrievalProcessTests.withClients(retrieval.port, { client, encoderClient in
      try await Self.index(client, count: 300)
      let before = Self.ids(try await Self.search(client))
      let expectedAfter = try await Self.exact(encoderClient, version: "v3", count: 300)
      // Start it and leave: the job runs without its caller.
      let started = Task { try await client.backfill(Self.backfillRequest("v3", batch: 10, rate: 80)) }
      let end = ContinuousClock.now + .seconds(20)
      while try await !client.stats().hasShadow && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
      started.cancel()
      return (before, expectedAfter)
    }, encoderPort: encoder.port)
    var lastDone: UInt64 = 0
    var sawFilling = false
    var switched = false
    for round in 0..<30 where !switched {
      try await Task.sleep(for: .milliseconds(150 + 40 * (round % 5)))
      await retrieval.kill9()
      retrieval = try await Fixtures.startRetrieval(
        encoderPort: encoder.port, dataDirectory: data, extra: ["--snapshot-changes", "5"] + storeArguments)
      try await RetrievalProcessTests.withClients(retrieval.port, { client, _ in
        let stats = try await client.stats()
        // The resumed backfill may switch between the two calls: judge the search by what it searched.
        let response = try await Self.search(client)
        if stats.shadow.phase == .filling {
          sawFilling = true
          #expect(stats.shadow.shadowDocuments >= lastDone, "round \(round): no shadow embedding lost")
          lastDone = stats.shadow.shadowDocuments
        } else {
          #expect(stats.shadow.phase == .switched, "round \(round): the upgrade survived the crash (\(stats.shadow.phase))")
        }
        if response.queryModelVersion == "v3" {
          switched = true
          #expect(response.documentVersions == ["v3"] && Self.same(Self.ids(response), expectedAfter), "round \(round): switched, v3's exact results")
        } else {
          #expect(response.queryModelVersion == "v2" && response.documentVersions == ["v1"] && Self.ids(response) == before, "round \(round): still exactly the old results")
        }
      }, encoderPort: encoder.port)
    }
    #expect(sawFilling)
    if !switched {
      // The kills stopped (a slow store restarts slowly): the resumed upgrade must still complete.
      try await RetrievalProcessTests.withClients(retrieval.port, { client, _ in
        let end = ContinuousClock.now + .seconds(120)
        while try await client.stats().shadow.phase != .switched && ContinuousClock.now < end {
          try await Task.sleep(for: .milliseconds(200))
        }
        let response = try await Self.search(client)
        switched = response.queryModelVersion == "v3"
        let stats = try await client.stats()
        #expect(response.documentVersions == ["v3"] && Self.same(Self.ids(response), expectedAfter),
                "after the kills, v3's exact results; shadow \(stats.shadow.phase) \(stats.shadow.shadowDocuments)/\(stats.shadow.documents), backfill \(stats.backfill.state) \(stats.backfill.message)\n\(retrieval.logTail)")
      }, encoderPort: encoder.port)
    }
    #expect(switched)
    #expect(await retrieval.terminate() == 0)
  }

  @Test("client-chosen version strings never become metric labels: rejected requests are counted under \"unknown\"")
  func metricsLabelsAreBounded() async throws {
    let encoder = try await Fixtures.startEncoder(try await Self.repository())
    defer { Task { await encoder.kill9() } }
    let retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-labels"))
    try await RetrievalProcessTests.withClients(retrieval.port, { client, _ in
      try await Self.index(client, count: 10)
      for i in 0..<20 {
        _ = await Fixtures.rpcError { try await Self.search(client, version: "evil-\(i)-\(UUID().uuidString)") }
        var upsert = RetrievalProcessTests.upsertRequest(0..<1, version: "bogus-\(i)")
        upsert.documents[0].id = "x\(i)"
        _ = await Fixtures.rpcError { try await client.upsert(upsert) }
      }
      _ = try await Self.search(client, version: "v2")
    }, encoderPort: encoder.port)
    let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(try #require(retrieval.metricsPort))/metrics")!)
    let metrics = String(decoding: data, as: UTF8.self)
    #expect(!metrics.contains("evil-") && !metrics.contains("bogus-"))
    #expect(metrics.contains("version=\"unknown\"") && metrics.contains("version=\"v2\""), "\(metrics.prefix(2000))")
    #expect(await retrieval.terminate() == 0)
  }
}
