import BCTClient
import BCTData
import BCTModelRepository
import BCTNumerics
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// The real `bct-encoder` and `bct-retrieval` executables on loopback.
@Suite("bct-retrieval with bct-encoder over gRPC", .serialized)
struct RetrievalProcessTests {
  /// The fixture repository plus x1, an independent mlp (another lineage, the newest version).
  static func repository() async throws -> URL { try await repositoryBuild.value }

  private static let repositoryBuild = Task<URL, any Error> {
    let repo = Fixtures.temporaryFolder("bct-retrieval-repo")
    let trained = try await Fixtures.trainedRepository()
    for version in ["v1", "v2"] {
      try FileManager.default.copyItem(at: trained.appendingPathComponent(version), to: repo.appendingPathComponent(version))
    }
    try await Fixtures.run(["train", "--arch", "mlp", "--epochs", "1", "--fraction", "0.01", "--seed", "7", "--out",
                            repo.appendingPathComponent("x1").path])
    return repo
  }

  static let test: Dataset = try! DataSource.fashionMNIST(directory: DataSource.debianFashionMNIST).load(.test)

  static func withClients<R: Sendable>(
    _ port: Int, _ body: (RetrievalClient, EncoderClient) async throws -> R, encoderPort: Int
  ) async throws -> R {
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: port)) { retrieval in
      try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: encoderPort)) { encoder in
        try await body(RetrievalClient(retrieval), EncoderClient(encoder))
      }
    }
  }

  /// Upserts `batches` batches of 20 test documents (v1), one after another, to the
  /// service on `port`, adding each acknowledged batch's ids to `acknowledged`.
  static func ingest(port: Int, batches: Int, timeout: Duration, into acknowledged: AckLog) -> Task<Void, any Error> {
    Task {
      try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: port)) { connection in
        let client = RetrievalClient(connection)
        for batch in 0..<batches {
          let range = (batch * 20)..<(batch * 20 + 20)
          _ = try await client.upsert(upsertRequest(range, version: "v1"), timeout: timeout)
          await acknowledged.add(range.map { "test-\($0)" })
        }
      }
    }
  }

  static func upsertRequest(_ range: Range<Int>, version: String = "") -> Bct_V1_UpsertRequest {
    var request = Bct_V1_UpsertRequest()
    request.modelVersion = version
    request.documents = range.map { i in
      var doc = Bct_V1_Document()
      doc.id = "test-\(i)"
      doc.metadata = ["label": "\(test.labels[i])", "split": "test"]
      doc.input.shape = [1, 28, 28]
      doc.input.values = Array(test.inputs.values[(i * 784)..<((i + 1) * 784)])
      return doc
    }
    return request
  }

  static func rawSearch(_ range: Range<Int>, k: Int, version: String = "") -> Bct_V1_SearchRequest {
    var request = Bct_V1_SearchRequest()
    var tensor = Bct_V1_Tensor()
    tensor.shape = [Int64(range.count), 1, 28, 28]
    tensor.values = Array(test.inputs.values[(range.lowerBound * 784)..<(range.upperBound * 784)])
    request.inputs = tensor
    request.k = Int32(k)
    request.queryModelVersion = version
    return request
  }

  /// Top-1 (self excluded) of the service's answers for queries `0..<q`.
  static func top1(_ response: Bct_V1_SearchResponse) -> Double {
    var hits = 0
    for (q, result) in response.results.enumerated() {
      if let first = result.hits.first(where: { $0.id != "test-\(q)" }), first.metadata["label"] == "\(test.labels[q])" { hits += 1 }
    }
    return Double(hits) / Double(response.results.count)
  }

  /// The same figure computed in process, as `bct eval` does, from the model files.
  static func referenceTop1(query: String, gallery: String, queries: Int, documents: Int) async throws -> Double {
    let repository = try await repository()
    let load = { (v: String) in try ModelVersion.load(from: repository.appendingPathComponent(v)) }
    let docs = try load(gallery).backbone.embed(test.inputs.rows(0..<documents)).l2NormalizedRows()
    let qs = try load(query).backbone.embed(test.inputs.rows(0..<queries)).l2NormalizedRows()
    let scores = BLAS.matmul(qs, docs, transposeB: .transposed)
    var hits = 0
    for q in 0..<queries {
      var best = -Float.infinity
      var label = -1
      for d in 0..<documents where d != q && scores[q, d] > best {
        best = scores[q, d]
        label = test.labels[d]
      }
      if label == test.labels[q] { hits += 1 }
    }
    return Double(hits) / Double(queries)
  }

  @Test("index with v1, search with v1 and v2 queries, backfill to v2: the figures match bct eval's", arguments: StoreKind.allCases)
  func crossVersionSearchAndBackfill(store: StoreKind) async throws {
    try await store.with { storeArguments in try await crossVersionSearchAndBackfill(storeArguments) }
  }

  func crossVersionSearchAndBackfill(_ storeArguments: [String]) async throws {
    let encoder = try await Fixtures.startEncoder(try await Self.repository())
    let retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-data"), extra: storeArguments)
    defer { Task { await retrieval.kill9(); await encoder.kill9() } }
    let (documents, queries) = (4000, 200)
    try await Self.withClients(retrieval.port, { client, encoderClient in
      for start in stride(from: 0, to: documents, by: 1000) {
        let response = try await client.upsert(Self.upsertRequest(start..<(start + 1000), version: "v1"))
        #expect(response.inserted == 1000 && response.modelVersion == "v1")
      }
      let replaced = try await client.upsert(Self.upsertRequest(0..<10))
      #expect(replaced.replaced == 10 && replaced.inserted == 0 && replaced.modelVersion == "v1", "documents keep the collection's version")
      var stats = try await client.stats()
      #expect(stats.documents == UInt64(documents) && stats.documentVersion == "v1")
      #expect(stats.versions.map(\.modelVersion) == ["v1"] && stats.versions[0].embeddingDim == 128)
      #expect(stats.rawInputBytes == UInt64(documents * 784 * 4) && stats.embeddingBytes == UInt64(documents * 128 * 4))
      #expect(stats.defaultQueryVersion == "v2", "the newest version compatible with v1 documents, not the newer x1")

      let q1d1 = try await client.search(Self.rawSearch(0..<queries, k: 2, version: "v1"))
      let q2d1 = try await client.search(Self.rawSearch(0..<queries, k: 2))
      #expect(q1d1.queryModelVersion == "v1" && q2d1.queryModelVersion == "v2" && q2d1.documentVersions == ["v1"])
      #expect(q2d1.results.allSatisfy { $0.hits.count == 2 && $0.hits.allSatisfy { $0.documentVersion == "v1" } })
      let expected11 = try await Self.referenceTop1(query: "v1", gallery: "v1", queries: queries, documents: documents)
      let expected21 = try await Self.referenceTop1(query: "v2", gallery: "v1", queries: queries, documents: documents)
      #expect(abs(Self.top1(q1d1) - expected11) <= 0.01, "M(Q1,D1) \(Self.top1(q1d1)) vs bct eval \(expected11)")
      #expect(abs(Self.top1(q2d1) - expected21) <= 0.01, "M(Q2,D1) \(Self.top1(q2d1)) vs bct eval \(expected21)")

      // Incompatible versions are refused, never answered with meaningless scores.
      let incompatible = await Fixtures.rpcError { try await client.search(Self.rawSearch(0..<1, k: 1, version: "x1")) }
      #expect(incompatible?.code == .failedPrecondition && incompatible?.message.contains("x1") == true && incompatible?.message.contains("v1") == true)
      let x1 = try await encoderClient.embed(Self.test.inputs.rows(0..<1), rowShape: [1, 28, 28], version: "x1")
      var foreign = Bct_V1_UpsertRequest()
      foreign.documents = [Bct_V1_Document.with { $0.id = "foreign"; $0.embedding.modelVersion = "x1"; $0.embedding.values = x1.embeddings.values }]
      #expect(await Fixtures.rpcError { try await client.upsert(foreign) }?.code == .failedPrecondition)

      // Backfill to v2; a search during it works over the mixed index.
      let progress = ProgressLog()
      async let finished = client.backfill(Bct_V1_BackfillRequest.with { $0.targetVersion = "v2"; $0.batchSize = 250 }) { await progress.add($0) }
      let during = try await client.search(Self.rawSearch(0..<5, k: 3))
      #expect(during.queryModelVersion == "v2" && during.results.count == 5)
      let last = try await finished
      #expect(last?.state == .completed && last?.done == UInt64(documents) && last?.total == UInt64(documents))
      let seen = await progress.items
      #expect(seen.count >= 2 && zip(seen, seen.dropFirst()).allSatisfy { $0.done <= $1.done })
      stats = try await client.stats()
      #expect(stats.documentVersion == "v2" && stats.versions.map(\.modelVersion) == ["v2"] && stats.backfill.state == .completed)

      let q2d2 = try await client.search(Self.rawSearch(0..<queries, k: 2))
      let expected22 = try await Self.referenceTop1(query: "v2", gallery: "v2", queries: queries, documents: documents)
      #expect(q2d2.results.allSatisfy { $0.hits.allSatisfy { $0.documentVersion == "v2" } })
      #expect(abs(Self.top1(q2d2) - expected22) <= 0.01, "M(Q2,D2) \(Self.top1(q2d2)) vs bct eval \(expected22)")

      // Bad inputs.
      #expect(await Fixtures.rpcError { try await client.search(Self.rawSearch(0..<1, k: 0)) }?.code == .invalidArgument)
      #expect(await Fixtures.rpcError { try await client.search(Self.rawSearch(0..<1, k: 5000)) }?.code == .invalidArgument)
      #expect(await Fixtures.rpcError { try await client.search(Self.rawSearch(0..<1, k: 1, version: "nope")) }?.code == .notFound)
      #expect(await Fixtures.rpcError { try await client.search(Self.rawSearch(0..<300, k: 1)) }?.code == .resourceExhausted)
      var duplicate = Self.upsertRequest(0..<2)
      duplicate.documents[1].id = duplicate.documents[0].id
      #expect(await Fixtures.rpcError { try await client.upsert(duplicate) }?.code == .invalidArgument)
      #expect(await Fixtures.rpcError { try await client.delete(.with { $0.ids = ["test-1", "missing"] }) }?.code == .notFound)
      let deleted = try await client.delete(.with { $0.ids = ["test-1", "missing"]; $0.allowMissing = true })
      #expect(deleted.deleted == 1 && deleted.missing == ["missing"])
    }, encoderPort: encoder.port)
    #expect(await retrieval.terminate() == 0)
    #expect(await encoder.terminate() == 0)
  }

  /// Mean share of `exact`'s hits per query that `approximate` found.
  static func recall(_ approximate: Bct_V1_SearchResponse, _ exact: Bct_V1_SearchResponse) -> Double {
    zip(approximate.results, exact.results).map { a, e in
      Double(Set(a.hits.map(\.id)).intersection(e.hits.map(\.id)).count) / Double(max(1, e.hits.count))
    }.reduce(0, +) / Double(max(1, exact.results.count))
  }

  @Test("--index hnsw: agrees with exact search, ef per request, deletes, backfill across segments, restarts keep results")
  func hnswService() async throws {
    let encoder = try await Fixtures.startEncoder(try await Self.repository())
    let data = Fixtures.temporaryFolder("bct-hnsw")
    var hnsw = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: data, extra: ["--index", "hnsw", "--hnsw-ef-search", "40"])
    let exact = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-hnsw-exact"))
    defer {
      let last = hnsw
      Task { await last.kill9(); await exact.kill9(); await encoder.kill9() }
    }
    let documents = 3000
    let queries = Self.rawSearch(0..<100, k: 10)
    var wide = queries
    wide.efSearch = 400
    var before = Bct_V1_SearchResponse()
    try await Self.withClients(exact.port, { flat, _ in
      try await Self.withClients(hnsw.port, { client, _ in
        for start in stride(from: 0, to: documents, by: 1000) {
          _ = try await client.upsert(Self.upsertRequest(start..<(start + 1000), version: "v1"))
          _ = try await flat.upsert(Self.upsertRequest(start..<(start + 1000), version: "v1"))
        }
        var stats = try await client.stats()
        #expect(stats.indexKind.hasPrefix("hnsw(M=16,efConstruction=200,efSearch=40)"), "\(stats.indexKind)")
        let segment = stats.versions.first?.index
        #expect(segment?.kind == "hnsw" && segment?.m == 16 && segment?.efConstruction == 200 && segment?.efSearch == 40)
        #expect((segment?.memoryBytes ?? 0) > UInt64(documents * 128 * 4))
        #expect(try await flat.stats().versions.first?.index.kind == "flat")

        let truth = try await flat.search(queries)
        let approximate = try await client.search(queries)
        #expect(Self.recall(approximate, truth) >= 0.95, "recall@10 \(Self.recall(approximate, truth))")
        #expect(try await Self.recall(client.search(wide), truth) >= Self.recall(approximate, truth))
        var tooWide = queries
        tooWide.efSearch = 10_001
        let refused = await Fixtures.rpcError { try await client.search(tooWide) }
        #expect(refused?.code == .invalidArgument && refused?.message.contains("ef_search") == true)

        // Deleted documents never come back, even for their own vectors as queries.
        let removed = (0..<100).map { "test-\($0)" }
        _ = try await client.delete(.with { $0.ids = removed })
        _ = try await flat.delete(.with { $0.ids = removed })
        let afterDelete = try await client.search(wide)
        #expect(afterDelete.results.allSatisfy { $0.hits.count == 10 && $0.hits.allSatisfy { !removed.contains($0.id) } })

        // Backfill moves every document from v1's graph to v2's.
        for service in [client, flat] {
          let last = try await service.backfill(.with { $0.targetVersion = "v2"; $0.batchSize = 500 }) { _ in }
          #expect(last?.state == .completed)
        }
        stats = try await client.stats()
        #expect(stats.versions.map(\.modelVersion) == ["v2"] && stats.versions[0].documents == UInt64(documents - 100))
        let truthV2 = try await flat.search(queries)
        before = try await client.search(queries)
        #expect(before.documentVersions == ["v2"] && Self.recall(before, truthV2) >= 0.95, "\(Self.recall(before, truthV2))")
      }, encoderPort: encoder.port)
    }, encoderPort: encoder.port)

    // A graceful restart (snapshot) and a kill -9 (log replay) both rebuild the graph from the stored vectors.
    var expected = documents - 100
    for restart in ["terminate", "kill -9"] {
      if restart == "terminate" { #expect(await hnsw.terminate() == 0) } else { await hnsw.kill9() }
      hnsw = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: ["--index", "hnsw", "--hnsw-ef-search", "40"])
      try await Self.withClients(hnsw.port, { client, _ in
        #expect(try await client.stats().documents == UInt64(expected))
        let after = try await client.search(queries)
        if restart == "terminate" {
          #expect(Self.recall(after, before) >= 0.95, "\(restart): \(Self.recall(after, before))")
          #expect(after.results.allSatisfy { $0.hits.allSatisfy { Int($0.id.dropFirst(5))! >= 100 } })
          // Logged after the snapshot: the kill -9 restart replays it into the rebuilt graph.
          _ = try await client.upsert(Self.upsertRequest(0..<10))
          expected += 10
        } else {
          let restored = (0..<10).map { q in after.results[q].hits.first?.id == "test-\(q)" }
          #expect(restored.filter { $0 }.count >= 9, "documents logged after the snapshot are found: \(restored)")
          #expect(after.results.allSatisfy { $0.hits.allSatisfy { !(10..<100).contains(Int($0.id.dropFirst(5))!) } })
        }
      }, encoderPort: encoder.port)
    }
    #expect(await hnsw.terminate() == 0)
  }

  @Test("one bct-retrieval per data directory: a second is refused while the first runs, and starts after a kill -9")
  func dataDirectoryLock() async throws {
    let encoder = try await Fixtures.startEncoder(try await Self.repository())
    let data = Fixtures.temporaryFolder("bct-lock")
    let first = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data)
    let second = try await Fixtures.command(
      ["--encoder", "127.0.0.1:\(encoder.port)", "--data-dir", data.path, "--host", "127.0.0.1", "--port", "0",
       "--no-metrics"], executable: "bct-retrieval")
    #expect(second.status != 0)
    #expect(second.error.contains("is locked") && second.error.contains("one bct-retrieval per data directory"), "\(second.error)")
    #expect(first.isRunning)
    await first.kill9()
    let third = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data)
    await third.kill9()
    await encoder.kill9()
  }

  @Test("kill -9 during ingest, restart: every acknowledged document is there", arguments: StoreKind.allCases)
  func crashDuringIngest(store: StoreKind) async throws {
    try await store.with { storeArguments in try await crashDuringIngest(storeArguments) }
  }

  func crashDuringIngest(_ storeArguments: [String]) async throws {
    let encoder = try await Fixtures.startEncoder(try await Self.repository())
    defer { Task { await encoder.kill9() } }
    let data = Fixtures.temporaryFolder("bct-crash")
    var retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: data, extra: ["--snapshot-changes", "7"] + storeArguments)
    let acknowledged = AckLog()
    let ingest = Self.ingest(port: retrieval.port, batches: 200, timeout: .seconds(10), into: acknowledged)
    while await acknowledged.ids.count < 400 { try await Task.sleep(for: .milliseconds(20)) }
    await retrieval.kill9()
    _ = await ingest.result
    let acked = await acknowledged.ids
    retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: storeArguments)
    try await Self.withClients(retrieval.port, { client, _ in
      let stats = try await client.stats()
      #expect(stats.documents >= UInt64(acked.count) && stats.documents <= UInt64(acked.count + 20))
      for chunk in stride(from: 0, to: acked.count, by: 1000) {
        let ids = Array(acked[chunk..<min(acked.count, chunk + 1000)])
        let deleted = try await client.delete(.with { $0.ids = ids })
        #expect(deleted.deleted == UInt32(ids.count), "every acknowledged id is present")
      }
    }, encoderPort: encoder.port)
    #expect(await retrieval.terminate() == 0)
  }

  @Test("encoder down: UNAVAILABLE for what needs it, searches by embedding keep working, then recovery")
  func encoderOutage() async throws {
    var encoder = try await Fixtures.startEncoder(try await Self.repository())
    let encoderPort = encoder.port
    let retrieval = try await Fixtures.startRetrieval(encoderPort: encoderPort, dataDirectory: Fixtures.temporaryFolder("bct-outage"))
    defer { Task { await retrieval.kill9() } }
    let query = try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: encoderPort)) { connection in
      try await EncoderClient(connection).embed(Self.test.inputs.rows(0..<1), rowShape: [1, 28, 28], version: "v1")
    }
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: retrieval.port)) { connection in
      let client = RetrievalClient(connection)
      _ = try await client.upsert(Self.upsertRequest(0..<100, version: "v1"))
      await encoder.kill9()
      let upsert = await Fixtures.rpcError { try await client.upsert(Self.upsertRequest(100..<110)) }
      #expect(upsert?.code == .unavailable && upsert?.message.contains("encoder") == true)
      #expect(await Fixtures.rpcError { try await client.search(Self.rawSearch(0..<1, k: 3)) }?.code == .unavailable)
      var byEmbedding = Bct_V1_SearchRequest()
      byEmbedding.embeddings.modelVersion = query.version
      byEmbedding.embeddings.vectors = Bct_V1_Tensor.with { $0.shape = [1, 128]; $0.values = query.embeddings.values }
      byEmbedding.k = 3
      let found = try await client.search(byEmbedding)
      #expect(found.results[0].hits.count == 3 && found.results[0].hits[0].id == "test-0")

      encoder = try await Fixtures.startEncoder(try await Self.repository(), port: encoderPort)
      let deadline = ContinuousClock.now + .seconds(20)
      var recovered = false
      while !recovered && ContinuousClock.now < deadline {
        recovered = (try? await client.upsert(Self.upsertRequest(100..<110))) != nil
        if !recovered { try await Task.sleep(for: .milliseconds(200)) }
      }
      #expect(recovered, "upserts work again once the encoder is back")
      #expect(try await client.stats().documents == 110)
    }
    #expect(await retrieval.terminate() == 0)
    #expect(await encoder.terminate() == 0)
  }
}

actor ProgressLog {
  var items: [Bct_V1_BackfillProgress] = []
  func add(_ item: Bct_V1_BackfillProgress) { items.append(item) }
}

actor AckLog {
  var ids: [String] = []
  func add(_ new: [String]) { ids += new }
}
