import BCTClient
import BCTCollection
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import FoundationNetworking
import GRPCCore
import Testing

/// Named collections through the real `bct-encoder` and `bct-retrieval` processes:
/// isolation of documents, per-collection index settings and Stats, refusals, drops,
/// restarts, metrics labels, the CLI, and kill -9 during creates and drops.
@Suite("Named collections through the real services", .serialized)
struct CollectionsProcessTests {
  static func upsert(_ range: Range<Int>) -> Bct_V1_UpsertRequest { RetrievalProcessTests.upsertRequest(range, version: "v1") }

  static func client(_ port: Int, _ collection: String, _ body: (RetrievalClient) async throws -> Void) async throws {
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: port)) { connection in
      try await body(RetrievalClient(connection, collection: collection))
    }
  }

  @Test("collections hold their own documents, index and stats; refusals; drop; a restart keeps them; on both stores", arguments: StoreKind.allCases)
  func collectionsEndToEnd(store: StoreKind) async throws {
    try await store.with { storeArguments in
      let encoder = try await Fixtures.startEncoder(try await RetrievalProcessTests.repository())
      let data = Fixtures.temporaryFolder("bct-data")
      var retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: storeArguments)
      let started = StartedProcesses(encoder, retrieval)
    defer { Task { await started.killAll() } }
      let hnsw = Bct_V1_IndexSettings.with { $0.kind = .hnsw; $0.hnswM = 8; $0.hnswEfSearch = 40 }
      let otherIndex: Bct_V1_IndexSettings? = store == .memory ? .with { $0.kind = .flatSq8 } : nil
      try await Self.client(retrieval.port, "") { admin in
        #expect(try await admin.listCollections().map(\.name) == ["default"])
        let shoes = try await admin.createCollection("shoes", index: hnsw)
        #expect(shoes.name == "shoes" && shoes.index.kind == .hnsw && shoes.index.hnswM == 8 && shoes.index.hnswEfSearch == 40)
        #expect(shoes.index.hnswEfConstruction == 200)
        let hats = try await admin.createCollection("hats_2", index: otherIndex)
        #expect(hats.index.kind == (store == .memory ? .flatSq8 : .hnsw))
        try await Self.checkRefusals(admin, store: store)
        _ = try await admin.upsert(Self.upsert(0..<40))
      }
      try await Self.client(retrieval.port, "shoes") { _ = try await $0.upsert(Self.upsert(100..<160)) }
      try await Self.client(retrieval.port, "hats_2") { _ = try await $0.upsert(Self.upsert(200..<230)) }
      try await Self.checkIsolation(retrieval.port)
      if store == .memory { try await Self.checkMetrics(retrieval) }
      try await Self.client(retrieval.port, "") { admin in
        let held = try await admin.dropCollection("hats_2")
        #expect(held == 30)
        #expect(await Fixtures.rpcError { try await admin.dropCollection("hats_2") }?.code == .notFound)
      }
      try await Self.client(retrieval.port, "hats_2") { hats in
        #expect(await Fixtures.rpcError { try await hats.stats() }?.code == .notFound)
      }
      _ = await retrieval.terminate()
      retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: storeArguments)
      started.add(retrieval)
      try await Self.client(retrieval.port, "") { admin in
        let listed = try await admin.listCollections()
        #expect(listed.map(\.name) == ["default", "shoes"] && listed.map(\.documents) == [40, 60])
        #expect(listed[1].index == Self.filled(hnsw) && listed[1].documentVersion == "v1")
        let again = try await admin.createCollection("hats_2", index: otherIndex)
        #expect(again.name == "hats_2")
        #expect(try await admin.listCollections().first { $0.name == "hats_2" }?.documents == 0)
      }
      try await Self.client(retrieval.port, "shoes") { shoes in
        let hits = try await shoes.search(RetrievalProcessTests.rawSearch(0..<3, k: 5, version: "v1")).results.flatMap(\.hits)
        #expect(hits.count == 15 && hits.allSatisfy { (100..<160).contains(Int($0.id.dropFirst(5))!) })
      }
      if store == .memory { try await Self.checkCLI(port: retrieval.port) }
      await retrieval.kill9()
      await encoder.kill9()
    }
  }

  /// The index settings a listing reports for the created `hnsw` ones (efConstruction filled in).
  static func filled(_ hnsw: Bct_V1_IndexSettings) -> Bct_V1_IndexSettings {
    var filled = hnsw
    filled.hnswEfConstruction = 200
    return filled
  }

  static func checkRefusals(_ admin: RetrievalClient, store: StoreKind) async throws {
    #expect(await Fixtures.rpcError { try await admin.createCollection("shoes") }?.code == .alreadyExists)
    #expect(await Fixtures.rpcError { try await admin.createCollection("default") }?.code == .alreadyExists)
    for bad in ["", "Shoes", "2shoes", "shoes-x", "a/../b", "é", String(repeating: "a", count: 65)] {
      let error = await Fixtures.rpcError { try await admin.createCollection(bad) }
      #expect(error?.code == .invalidArgument, "\(bad): \(String(describing: error))")
    }
    let badIndex = Bct_V1_IndexSettings.with { $0.kind = .hnsw; $0.hnswM = 1 }
    #expect(await Fixtures.rpcError { try await admin.createCollection("x", index: badIndex) }?.code == .invalidArgument)
    for kind in [Bct_V1_IndexSettings.Kind.flat, .flatSq8, .flatF16] {
      let withM = Bct_V1_IndexSettings.with { $0.kind = kind; $0.hnswM = 8 }
      #expect(await Fixtures.rpcError { try await admin.createCollection("x", index: withM) }?.code == .invalidArgument)
      if store == .milvus {
        let refused = await Fixtures.rpcError { try await admin.createCollection("x", index: .with { $0.kind = kind }) }
        #expect(refused?.code == .invalidArgument && refused?.message.contains("HNSW") == true)
      }
    }
    let unknown = await Fixtures.rpcError { try await admin.createCollection("x", index: .with { $0.kind = .UNRECOGNIZED(9) }) }
    #expect(unknown?.code == .invalidArgument && unknown?.message.contains("KIND_FLAT_SQ8") == true)
    let drop = await Fixtures.rpcError { try await admin.dropCollection("default") }
    #expect(drop?.code == .failedPrecondition)
    #expect(await Fixtures.rpcError { try await admin.dropCollection("") }?.code == .invalidArgument)
    #expect(await Fixtures.rpcError { try await admin.dropCollection("nope") }?.code == .notFound)
    do {
      let nope = admin.addressing("nope")
      let error = await Fixtures.rpcError { try await nope.search(RetrievalProcessTests.rawSearch(0..<1, k: 1)) }
      #expect(error?.code == .notFound && error?.message.contains("shoes") == true, "\(String(describing: error))")
      #expect(await Fixtures.rpcError { try await nope.upsert(upsert(0..<1)) }?.code == .notFound)
    }
    #expect(try await admin.listCollections().map(\.name) == ["default", "hats_2", "shoes"])
  }

  static func checkIsolation(_ port: Int) async throws {
    let ranges = ["": 0..<40, "shoes": 100..<160, "hats_2": 200..<230]
    for (name, range) in ranges {
      try await client(port, name) { c in
        let hits = try await c.search(RetrievalProcessTests.rawSearch(0..<4, k: 100, version: "v1")).results.map(\.hits)
        #expect(hits.allSatisfy { $0.count == range.count }, "\(name)")
        #expect(hits.joined().allSatisfy { range.contains(Int($0.id.dropFirst(5))!) }, "\(name)")
        let stats = try await c.stats()
        #expect(stats.documents == UInt64(range.count) && stats.collection == CollectionName.resolved(name))
        let got = try await c.get(.with { $0.ids = ["test-\(range.lowerBound)", "test-\((range.lowerBound + 100) % 300)"] })
        #expect(got.documents.map(\.id) == ["test-\(range.lowerBound)"] && got.missing.count == 1)
        var listed = 0
        var request = Bct_V1_ListRequest()
        repeat {
          let page = try await c.list(request)
          listed += page.documents.count
          request.pageToken = page.nextPageToken
        } while !request.pageToken.isEmpty
        #expect(listed == range.count)
        _ = try await c.delete(.with { $0.ids = ["test-\(range.lowerBound)"] })
        _ = try await c.upsert(upsert(range.lowerBound..<(range.lowerBound + 1)))
      }
    }
    try await client(port, "shoes") { shoes in
      let stats = try await shoes.stats()
      #expect(stats.versions.first?.index.kind == "hnsw" || stats.indexKind.contains("hnsw"), "\(stats)")
    }
  }

  static func checkMetrics(_ retrieval: ServiceProcess) async throws {
    let (data, _) = try await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(try #require(retrieval.metricsPort))/metrics")!)
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains(#"method="Search",version="v1",collection="shoes""#))
    #expect(text.contains(#"collection="unknown""#) && !text.contains(#"collection="nope""#))
  }

  /// `bct collections` and `--collection` as a user runs them.
  static func checkCLI(port: Int) async throws {
    let env = ["BCT_RETRIEVAL": "127.0.0.1:\(port)"]
    let created = try await Fixtures.command(["collections", "create", "cli_made", "--index", "hnsw", "--hnsw-m", "12"], environment: env)
    #expect(created.status == 0 && created.output.contains("created collection cli_made (hnsw(M=12"), "\(created)")
    let stats = try await Fixtures.command(["stats", "--collection", "shoes", "--json"], environment: env)
    #expect(stats.status == 0 && stats.output.contains("\"documents\":60,"), "\(stats)")
    let listed = try await Fixtures.command(["collections", "list", "--json"], environment: env)
    let names = ((try? JSONSerialization.jsonObject(with: Data(listed.output.utf8))) as? [[String: Any]])?.compactMap { $0["name"] as? String }
    #expect(names == ["default", "cli_made", "hats_2", "shoes"], "\(listed)")
    let dropped = try await Fixtures.command(["collections", "drop", "cli_made"], environment: env)
    #expect(dropped.status == 0 && dropped.output.contains("dropped collection cli_made (0 documents)"), "\(dropped)")
    let missing = try await Fixtures.command(["get", "x", "--collection", "cli_made"], environment: env)
    #expect(missing.status != 0 && missing.error.contains("no collection \"cli_made\""), "\(missing)")
  }
}
