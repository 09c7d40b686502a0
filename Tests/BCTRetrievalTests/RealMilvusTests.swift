import BCTClient
import BCTCollection
import BCTIndex
import BCTMilvus
import BCTMilvusStore
import BCTNumerics
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// A Milvus store on `address` with a fresh collection prefix (kept afterwards, as
/// `StoreKind` keeps them): the store, its client and its location.
///
/// The client retries for up to `retryFor`, 10 minutes unless a test needs less: these
/// tests start with the suite, when CPU-bound tests can hold both threads of the
/// concurrency pool for minutes on 2 cores, and a call's deadline then passes before
/// its reply is read (seen: every store test failing "RPC timed out" at the same moment).
func withMilvusStore<Result: Sendable>(
  at address: String, prefix: String = "s\(UInt32.random(in: 1...UInt32.max))", inputSize: Int,
  retryFor: Duration = .seconds(600), consistency: MilvusConsistency = .strong,
  _ body: (MilvusCollectionStore, MilvusClient, MilvusLocation) async throws -> Result
) async throws -> Result {
  let service = try ServiceAddress(parsing: address)
  return try await withConnection(to: service) { grpc in
    let client = MilvusClient(grpc, address: address, retryFor: retryFor, readConsistency: consistency)
    let location = try MilvusLocation(address: service, prefix: prefix)
    let store = MilvusCollectionStore(client: client, location: location, inputSize: { _ in inputSize }, logger: UpgradeTests.logger)
    try await store.open()
    return try await body(store, client, location)
  }
}

/// Unit-length rows from a fixed seed.
func unitRows(_ count: Int, _ dimension: Int, seed: UInt64) -> [[Float]] {
  var generator = SeededGenerator(seed: seed)
  return (0..<count).map { _ in
    let row = (0..<dimension).map { _ in generator.nextGaussian() }
    let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return row.map { $0 / norm }
  }
}

/// The ids of the `k` rows of largest inner product with `query`, best first (ties by id).
func exactTop(_ query: [Float], _ rows: [(id: String, vector: [Float])], k: Int) -> [String] {
  let scored: [(id: String, score: Float)] = rows.map { row in
    var score: Float = 0
    for (a, b) in zip(query, row.vector) { score += a * b }
    return (row.id, score)
  }
  let ranked = scored.sorted { $0.score != $1.score ? $0.score > $1.score : $0.id < $1.id }
  return ranked.prefix(k).map(\.id)
}

/// What the store has to handle on the real Milvus server (2.3.5), on the suite's shared server.
@Suite("Milvus store on the real Milvus server")
struct RealMilvusStoreTests {
  static func documents(_ count: Int, dimension: Int, inputSize: Int, seed: UInt64) -> [StoredDocument] {
    let vectors = unitRows(count, dimension, seed: seed)
    let inputs = unitRows(count, inputSize, seed: seed + 1)
    return (0..<count).map {
      StoredDocument(
        id: "d\(seed)-\($0)", metadata: ["n": "\($0)"], inputShape: [inputSize], input: inputs[$0], version: "v1", vector: vectors[$0])
    }
  }

  @Test("fresh (unflushed) rows: 150 queries with k 10 and 784-value raw inputs answer exactly, and the inputs come back bit for bit")
  func freshRowsAndWideReplies() async throws {
    try await withMilvusStore(at: try RealMilvusServer.sharedAddress(), inputSize: 784) { store, _, _ in
      let docs = Self.documents(1500, dimension: 32, inputSize: 784, seed: 7)
      for start in stride(from: 0, to: docs.count, by: 500) {
        try await store.commit(.upsert(Array(docs[start..<(start + 500)])))
      }
      let queries = unitRows(150, 32, seed: 99)
      let found = try await store.search(
        Matrix(rows: 150, columns: 32, values: queries.flatMap { $0 }), k: 10, options: SearchOptions(), check: { _ in })
      let rows = docs.map { (id: $0.id, vector: $0.vector) }
      let exact = queries.map { exactTop($0, rows, k: 10) }
      #expect(found.hits.map { $0.map(\.scored.id) } == exact, "fresh rows are searched exactly (interim index off)")
      #expect(found.metadata.count == Set(exact.joined()).count)
      let back = try await store.documents(docs.prefix(300).map(\.id))
      #expect(back.map(\.document.input) == docs.prefix(300).map(\.input))
    }
  }

  @Test("session reads (the writer's): an acknowledged upsert or delete is visible to the very next search, fetch and count; a new process sees what an earlier one wrote")
  func visibility() async throws {
    let address = try RealMilvusServer.sharedAddress()
    let prefix = "vis\(UInt32.random(in: 1...UInt32.max))"
    let docs = Self.documents(21, dimension: 16, inputSize: 4, seed: 3)
    try await withMilvusStore(at: address, prefix: prefix, inputSize: 4, consistency: .session) { store, _, _ in
      for (n, doc) in docs.prefix(20).enumerated() {
        try await store.commit(.upsert([doc]))
        let found = try await store.search(Matrix(rows: 1, columns: 16, values: doc.vector), k: 1, options: SearchOptions(), check: { _ in })
        #expect(found.hits.first?.first?.scored.id == doc.id)
        #expect(try await store.documents([doc.id]).first?.document.vector == doc.vector)
        #expect(try await store.view(ViewQuery(sizes: true)).documentCount == n + 1)
      }
    }
    // A restarted writer: strong until its own first write, then its session.
    try await withMilvusStore(at: address, prefix: prefix, inputSize: 4, consistency: .session) { store, _, _ in
      #expect(try await store.view(ViewQuery(sizes: true)).documentCount == 20)
      try await store.commit(.upsert([docs[20]]))
      #expect(try await store.documents([docs[20].id]).first?.document.vector == docs[20].vector)
      #expect(try await store.view(ViewQuery(sizes: true)).documentCount == 21)
      // Milvus answers Delete without a timestamp: the next reads of the collection are strong.
      try await store.commit(.delete([docs[20].id, docs[0].id]))
      #expect(try await store.view(ViewQuery(sizes: true)).documentCount == 19)
      #expect(try await store.documents([docs[20].id, docs[0].id]).isEmpty)
    }
  }

  @Test("raw inputs up to 12,287 values are kept exactly; a wider one is refused with the reason, and nothing is written")
  func inputLimit() async throws {
    let limit = MilvusDocumentCollection.InputEncoding.text.maxInputSize
    #expect(limit == 12_287)
    try await withMilvusStore(at: try RealMilvusServer.sharedAddress(), inputSize: limit) { store, _, _ in
      let doc = Self.documents(1, dimension: 8, inputSize: limit, seed: 5)[0]
      try await store.commit(.upsert([doc]))
      #expect(try await store.documents([doc.id]).first?.document.input == doc.input)
    }
    try await withMilvusStore(at: try RealMilvusServer.sharedAddress(), inputSize: limit + 1) { store, _, _ in
      let doc = Self.documents(1, dimension: 8, inputSize: limit + 1, seed: 6)[0]
      do {
        try await store.commit(.upsert([doc]))
        Issue.record("a raw input of \(limit + 1) values was accepted")
      } catch RetrievalError.storeRefused(let detail) {
        #expect(detail.contains("12287") && detail.contains("send embeddings"), "\(detail)")
      }
      #expect(try await store.view(ViewQuery(sizes: true)).documentCount == 0)
    }
  }

  @Test("size limits are RESOURCE_EXHAUSTED, never INTERNAL: k over Milvus's topk limit, a reply over the client's limit")
  func limits() async throws {
    let address = try RealMilvusServer.sharedAddress()
    try await withMilvusStore(at: address, inputSize: 784) { store, client, location in
      let docs = Self.documents(200, dimension: 8, inputSize: 784, seed: 11)
      try await store.commit(.upsert(docs))
      do {
        _ = try await store.search(Matrix(rows: 1, columns: 8, values: docs[0].vector), k: 20_000, options: SearchOptions(), check: { _ in })
        Issue.record("k = 20000 was accepted")
      } catch RetrievalError.overLimit(_, let message) {
        #expect(message.contains("16384"), "\(message)")
      }
      // The same server through a client that takes 64 KiB replies: 200 raw inputs are ~800 KiB.
      try await withConnection(to: try ServiceAddress(parsing: address)) { grpc in
        let small = MilvusClient(grpc, address: address, maxMessageBytes: 64 << 10)
        let collection = try MilvusDocumentCollection(name: location.collection(for: "v1"), dimension: 8, inputSize: 784)
        do {
          _ = try await small.fetch(collection, ids: docs.map(\.id))
          Issue.record("an 800 KiB reply passed a 64 KiB limit")
        } catch let error as MilvusError {
          guard case .limitExceeded = error else { throw error }
          #expect(error.rpcError.code == .resourceExhausted)
        }
      }
      _ = client
    }
  }
}

/// The layout bct used before (raw input as a second vector field, Milvus >= 2.4): only
/// milvus-lite holds two vector fields here, so this runs there.
@Suite("Milvus store: collections in the two-vector layout")
struct MilvusLegacyLayoutTests {
  @Test("an existing two-vector collection is found, read and written in its own layout")
  func legacyCollection() async throws {
    try await MilvusLiteServer.with { server in
      let address = "127.0.0.1:\(server.port)"
      try await withConnection(to: try ServiceAddress(parsing: address)) { grpc in
        let client = MilvusClient(grpc, address: address)
        let legacy = try MilvusDocumentCollection(name: "old_v1", dimension: 8, inputSize: 6, inputEncoding: .vector)
        #expect(try await client.ensureCollection(legacy).inputEncoding == .vector)
        let rows = unitRows(3, 8, seed: 1).enumerated().map { n, vector in
          MilvusDocument(id: "d\(n)", embedding: vector, hasInput: n != 2, input: n != 2 ? [1, 2, 3, 4, 5, Float(n)] : [])
        }
        try await client.upsert(legacy, rows)
        // What today's store asks for (the text layout) finds the collection as it is.
        let found = try await client.ensureCollection(try MilvusDocumentCollection(name: "old_v1", dimension: 8, inputSize: 6))
        #expect(found.inputEncoding == .vector)
        let back = try await client.fetch(found, ids: ["d0", "d1", "d2"]).sorted { $0.id < $1.id }
        #expect(back.map(\.input).prefix(2) == [[1, 2, 3, 4, 5, 0], [1, 2, 3, 4, 5, 1]])
        #expect(back.map(\.hasInput) == [true, true, false])
        let fresh = try await client.ensureCollection(try MilvusDocumentCollection(name: "new_v1", dimension: 8, inputSize: 6))
        #expect(fresh.inputEncoding == .text)
      }
    }
  }
}

/// The real server stopped, crashed and moved: only one can run per machine, so these
/// run in the test command's second, serial phase, after the suite's shared server stopped.
@Suite("The real Milvus server restarted and moved", .serialized, .enabled(if: RealMilvusServer.exclusiveAllowed))
struct RealMilvusRestartTests {
  @Test("real Milvus restarted under a stream of upserts through bct-retrieval: upserts wait, every acknowledged document is kept")
  func restartUnderLoad() async throws {
    // A real server stops gracefully in up to 10 s and starts again in 10-40 s here.
    try await MilvusStoreProcessTests.restartUnderLoad(try await RealMilvusServer(port: try MilvusLiteServer.freePort()), wait: .seconds(150))
  }

  @Test("a server that moved ports: the old address is UNAVAILABLE; at the new one, after kill -9 and restart, every collection loads with its documents")
  func movedPort() async throws {
    let first = try await RealMilvusServer(port: try MilvusLiteServer.freePort())
    let docs = RealMilvusStoreTests.documents(300, dimension: 16, inputSize: 4, seed: 21)
    do {
      let old = "127.0.0.1:\(first.port)"
      try await withMilvusStore(at: old, prefix: "moved", inputSize: 4, retryFor: .seconds(3)) { store, _, _ in
        try await store.commit(.upsert(docs))
        await first.kill9()
        let clock = ContinuousClock()
        let start = clock.now
        do {
          _ = try await store.view(ViewQuery())
          Issue.record("a read succeeded with the server gone")
        } catch RetrievalError.storeUnavailable(let detail) {
          #expect(detail.contains(old), "\(detail)")
        }
        #expect(clock.now - start < .seconds(60))
      }
      let moved = try await RealMilvusServer(dataDirectory: first.dataDirectory, port: try MilvusLiteServer.freePort())
      defer { Task { await moved.kill9() } }
      #expect(moved.port != first.port)
      try await withMilvusStore(at: "127.0.0.1:\(moved.port)", prefix: "moved", inputSize: 4) { store, _, _ in
        #expect(try await store.view(ViewQuery(sizes: true)).documentCount == docs.count)
        let found = try await store.search(
          Matrix(rows: 5, columns: 16, values: docs.prefix(5).flatMap(\.vector)), k: 1, options: SearchOptions(), check: { _ in })
        #expect(found.hits.map { $0.first?.scored.id } == docs.prefix(5).map(\.id))
      }
      await moved.stop(grace: .seconds(30))
    } catch {
      await first.kill9()
      throw error
    }
  }
}

/// Filters and listing on the real server where its segments matter: rows spread over
/// sealed (flushed) and growing segments, written in random id order.
@Suite("Milvus store: filters and listing across sealed and growing segments")
struct RealMilvusListingTests {
  @Test("List pages equal the sorted ids passing the filter, over flushed and fresh rows; filtered search equals exact filtered search")
  func listingAcrossSegments() async throws {
    try await withMilvusStore(at: try RealMilvusServer.sharedAddress(), inputSize: 4) { store, _, _ in
      var generator = SeededGenerator(seed: 11)
      let vectors = unitRows(1200, 16, seed: 21)
      var docs = (0..<1200).map { i in
        StoredDocument(
          id: "id-\(UInt32.random(in: 0...UInt32.max, using: &generator))-\(i)",
          metadata: ["tier": "\(i % 7)", "score": "\(Double(i % 50) / 2)", "kind": i % 2 == 0 ? "even" : "odd"],
          inputShape: [4], input: [1, 2, 3, 4], version: "v1", vector: vectors[i])
      }
      docs.shuffle(using: &generator)
      for start in stride(from: 0, to: docs.count, by: 300) {
        try await store.commit(.upsert(Array(docs[start..<(start + 300)])))
        if start < 900 { try await store.flush() }
      }
      let filters: [MetadataFilter?] = [
        nil, .equals(key: "tier", value: "3"),
        .all([.range(key: "score", lower: .init(5, inclusive: false), upper: .init(12.5, inclusive: true)), .not(.equals(key: "kind", value: "odd"))]),
      ]
      for filter in filters {
        var listed: [String] = []
        var cursor: String?
        while true {
          let page = try await store.list(after: cursor, limit: 97, filter: filter, vectors: false)
          listed += page.map(\.id)
          guard page.count == 97, let last = page.last else { break }
          cursor = last.id
        }
        let expected = docs.filter { filter?.matches($0.metadata) ?? true }.map(\.id).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
        #expect(listed == expected, "\(String(describing: filter))")
        guard let filter else { continue }
        let query = unitRows(1, 16, seed: 77)[0]
        let found = try await store.search(Matrix(rows: 1, columns: 16, values: query), k: 10, options: SearchOptions(), filter: filter, check: { _ in })
        let passing = docs.filter { filter.matches($0.metadata) }.map { (id: $0.id, vector: $0.vector) }
        #expect(found.hits[0].map(\.scored.id) == exactTop(query, passing, k: 10), "\(filter)")
      }
    }
  }
}
