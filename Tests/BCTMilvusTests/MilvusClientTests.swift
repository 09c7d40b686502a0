import BCTClient
@testable import BCTMilvus
import BCTMilvusProto
import BCTNumerics
import BCTTestSupport
import Foundation
import GRPCCore
import Synchronization
import Testing

@Suite("Milvus locations and versions")
struct MilvusLocationTests {
  @Test("milvus://HOST:PORT[/PREFIX] parses; anything else is refused with the reason")
  func locations() throws {
    let plain = try MilvusLocation(parsing: "milvus://127.0.0.1:19530")
    #expect(plain.address == ServiceAddress(host: "127.0.0.1", port: 19530) && plain.prefix == "bct")
    let named = try MilvusLocation(parsing: "milvus://milvus.internal:443/catalogue_2")
    #expect(named.address.host == "milvus.internal" && named.prefix == "catalogue_2")
    for bad in ["127.0.0.1:19530", "milvus://", "milvus://host", "milvus://host:0", "milvus://host:1/2bad", "milvus://host:1/a-b",
                "milvus://host:1/" + String(repeating: "a", count: 65)] {
      #expect(throws: MilvusLocationError.self, "\(bad)") { try MilvusLocation(parsing: bad) }
    }
  }

  @Test("supported servers: Milvus >= 2.3 and milvus-lite >= 3")
  func versions() {
    for good in ["v2.3.5-lite", "v2.3.0", "v2.4.0", "v2.5.4", "2.6.1-rc", "v3.0.0", "milvus_lite-3.2.2"] {
      #expect(MilvusVersion.isSupported(good), "\(good)")
    }
    for bad in ["v2.2.16", "v1.1", "milvus_lite-2.4.10", "", "latest"] { #expect(!MilvusVersion.isSupported(bad), "\(bad)") }
  }

  @Test("errors map to gRPC codes: unreachable UNAVAILABLE, unsupported FAILED_PRECONDITION")
  func statusCodes() {
    #expect(MilvusError.unreachable(address: "a", detail: "b").rpcError.code == .unavailable)
    #expect(MilvusError.unsupportedServer(address: "a", detail: "b").rpcError.code == .failedPrecondition)
    #expect(MilvusError.rejected(call: "Upsert", code: 1100, reason: "x").rpcError.code == .internalError)
    #expect(MilvusError.limitExceeded(call: "Search", detail: "k").rpcError.code == .resourceExhausted)
  }

  @Test("session clock: per collection; a write without a timestamp (Milvus's Delete) makes reads strong until a timestamped write")
  func writeClock() {
    let clock = WriteClock()
    #expect(clock.newest("a") == 0)
    clock.advance("a", to: 100)
    clock.advance("a", to: 90)
    #expect(clock.newest("a") == 100 && clock.newest("b") == 0)
    clock.advance("a", to: 0)
    #expect(clock.newest("a") == WriteClock.unknown)
    clock.advance("a", to: 120)
    #expect(clock.newest("a") == 120)
  }

  @Test("in-reply statuses: a server not ready yet is retried, a quota is a size limit, anything else a refusal")
  func outcomes() {
    func status(_ code: Int32, _ errorCode: Milvus_Proto_Common_ErrorCode = .success, _ reason: String = "") -> Milvus_Proto_Common_Status {
      .with {
        $0.code = code
        $0.errorCode = errorCode
        $0.reason = reason
      }
    }
    #expect(MilvusClient.classify(status(0)) == .success)
    #expect(MilvusClient.classify(status(1, .unexpectedError, "service not ready")) == .transient)
    #expect(MilvusClient.classify(status(0, .notReadyServe)) == .transient)
    #expect(MilvusClient.classify(status(0, .rateLimit)) == .transient)
    let reconnecting = "empty grpc client: failed to connect 127.0.0.1:53100, reason: connection error"
    #expect(MilvusClient.classify(status(65535, .unexpectedError, reconnecting)) == .transient)
    #expect(MilvusClient.classify(status(0, .memoryQuotaExhausted)) == .quota)
    #expect(MilvusClient.classify(status(101, .unexpectedError, "collection not loaded")) == .refused)
    #expect(MilvusClient.classify(status(1100, .unexpectedError, "invalid expression")) == .refused)
  }
}

@Suite("Milvus client against milvus-lite", .serialized)
struct MilvusClientTests {
  static func unitRows(_ count: Int, _ dimension: Int, seed: UInt64) -> [[Float]] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in
      let row = (0..<dimension).map { _ in generator.nextGaussian() }
      let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
      return row.map { $0 / norm }
    }
  }

  static func dot(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }

  @Test("create, upsert, flush, search matching exact results, fetch, replace, delete, count, and a server restart")
  func documents() async throws {
    try await MilvusLiteServer.with { try await Self.documents(on: $0) }
  }

  static func documents(on server: MilvusLiteServer) async throws {
    let address = ServiceAddress(host: "127.0.0.1", port: server.port)
    let collection = try MilvusDocumentCollection(name: "bct_test_v1", dimension: 32, inputSize: 12)
    let vectors = unitRows(3000, 32, seed: 1)
    let documents = vectors.indices.map {
      MilvusDocument(
        id: "doc-\($0) \"quoted\" \\ 'x'" + ($0 == 7 ? "\n\t\u{01}é☃]" : ""), embedding: vectors[$0], metadata: Data("{\"n\":\($0)}".utf8),
        input: (0..<12).map { Float($0) * 0.5 + 1 })
    }
    let queries = unitRows(25, 32, seed: 2)
    try await withConnection(to: address) { grpc in
      let client = MilvusClient(grpc, address: "\(address)")
      let version = try await client.checkSupported()
      #expect(version.hasPrefix("milvus_lite-"))
      try await client.ensureCollection(collection)
      try await client.ensureCollection(collection)  // idempotent
      for batch in stride(from: 0, to: documents.count, by: 1000) {
        #expect(try await client.upsert(collection, Array(documents[batch..<min(batch + 1000, documents.count)])) == 1000)
      }
      try await client.flush([collection.name])
      #expect(try await client.count(collection.name) == 3000)

      // Search: HNSW at a wide beam agrees with exact inner products.
      let results = try await client.search(collection, queries: queries, k: 10, ef: 256)
      #expect(results.count == queries.count)
      var recalled = 0
      for (query, hits) in zip(queries, results) {
        let exact = documents.map { ($0.id, dot(query, $0.embedding)) }.sorted { $0.1 > $1.1 }.prefix(10)
        recalled += Set(hits.map(\.id)).intersection(exact.map(\.0)).count
        #expect(hits.count == 10 && zip(hits, hits.dropFirst()).allSatisfy { $0.score >= $1.score })
        let byID = Dictionary(uniqueKeysWithValues: documents.map { ($0.id, $0.embedding) })
        for hit in hits { #expect(abs(hit.score - dot(query, byID[hit.id]!)) < 1e-4) }
      }
      #expect(Double(recalled) / Double(10 * queries.count) >= 0.95, "recall@10 \(recalled)/\(10 * queries.count)")

      // Fetch returns the stored fields exactly, ids with quotes and backslashes included.
      let wanted = [documents[7].id, documents[2999].id, "absent"]
      // Milvus re-serialises JSON (`{"n": 7}`), so metadata compares as JSON values.
      let fetched = try await client.fetch(collection, ids: wanted).sorted { $0.id < $1.id }
      let expected = [documents[2999], documents[7]].sorted { $0.id < $1.id }
      #expect(fetched.map(\.id) == expected.map(\.id))
      #expect(fetched.map(\.embedding) == expected.map(\.embedding) && fetched.map(\.input) == expected.map(\.input))
      for (got, want) in zip(fetched, expected) {
        let parsed = try JSONSerialization.jsonObject(with: got.metadata) as? [String: Int]
        let wanted = try JSONSerialization.jsonObject(with: want.metadata) as? [String: Int]
        #expect(parsed != nil && parsed == wanted)
      }

      // Replace one document's embedding with the first query: it becomes that query's best hit.
      var replaced = documents[5]
      replaced.embedding = queries[0]
      #expect(try await client.upsert(collection, [replaced]) == 1)
      #expect(try await client.search(collection, queries: [queries[0]], k: 1).first?.first?.id == replaced.id)
      #expect(try await client.count(collection.name) == 3000)

      // Deletes: gone from search, fetch and the count.
      try await client.delete(collection.name, ids: [replaced.id, documents[6].id])
      #expect(try await client.count(collection.name) == 2998)
      let after = try await client.search(collection, queries: [queries[0]], k: 50, ef: 256)
      #expect(!after[0].contains { $0.id == replaced.id || $0.id == documents[6].id })
      #expect(try await client.fetch(collection, ids: [replaced.id]).isEmpty)

      // A collection of the same name but another layout is refused, not reused.
      let other = try MilvusDocumentCollection(name: "bct_test_v1", dimension: 64, inputSize: 12)
      await #expect(throws: MilvusError.self) { try await client.ensureCollection(other) }
      try await client.flush([collection.name])
    }

    // Restart on the same data: the collection is loaded again and keeps its documents.
    await server.stop()
    let restarted = try await MilvusLiteServer(dataDirectory: server.dataDirectory, port: server.port)
    defer { Task { await restarted.kill9() } }
    #expect(!server.isRunning)
    try await withConnection(to: address) { grpc in
      let client = MilvusClient(grpc, address: "\(address)")
      try await client.ensureCollection(collection)
      #expect(try await client.count(collection.name) == 2998)
      let again = try await client.search(collection, queries: [queries[1]], k: 10, ef: 256)
      #expect(again.first?.count == 10)
      try await client.dropCollection(collection.name)
      #expect(try await !client.hasCollection(collection.name))
    }
    await restarted.stop()
  }

  @Test("the server restarted under load: writes wait for it, no acknowledged upsert is lost, reads load the collection again")
  func restartUnderLoad() async throws {
    try await MilvusLiteServer.with { server in
      let address = ServiceAddress(host: "127.0.0.1", port: server.port)
      let collection = try MilvusDocumentCollection(name: "bct_restart", dimension: 8, inputSize: 4)
      let vectors = Self.unitRows(2000, 8, seed: 3)
      try await withConnection(to: address) { grpc in
        let client = MilvusClient(grpc, address: "\(address)", timeout: .seconds(5), retryFor: .seconds(60))
        try await client.ensureCollection(collection)
        // Four batches before the stop; the writer then goes on while the server is down and starting.
        let acknowledged = Mutex(0)
        let stopped = Mutex(false)
        async let writes: Void = {
          for batch in 0..<40 {
            if batch == 4 { while !stopped.withLock({ $0 }) { try await Task.sleep(for: .milliseconds(10)) } }
            let documents = (batch * 50..<(batch + 1) * 50).map {
              MilvusDocument(id: "r-\($0)", embedding: vectors[$0], input: [1, 2, 3, 4])
            }
            #expect(try await client.upsert(collection, documents) == 50)
            acknowledged.withLock { $0 += 50 }
          }
        }()
        while acknowledged.withLock({ $0 }) < 200 { try await Task.sleep(for: .milliseconds(10)) }
        await server.stop()
        #expect(!server.isRunning)
        stopped.withLock { $0 = true }
        try await Task.sleep(for: .milliseconds(300))
        let restarted = try await MilvusLiteServer(dataDirectory: server.dataDirectory, port: server.port)
        try await writes
        #expect(acknowledged.withLock { $0 } == 2000)
        // The restarted server has not loaded the collection: reads load it again.
        #expect(try await client.count(collection.name) == 2000)
        let hits = try await client.search(collection, queries: [vectors[1234]], k: 1, ef: 128)
        #expect(hits.first?.first?.id == "r-1234")
        await restarted.kill9()
      }
    }
  }

  @Test("an unreachable server is UNAVAILABLE after the retries, within the deadlines")
  func unreachable() async throws {
    let port = try MilvusLiteServer.freePort()
    let address = ServiceAddress(host: "127.0.0.1", port: port)
    let started = ContinuousClock.now
    let error = await #expect(throws: MilvusError.self) {
      try await withConnection(to: address) { grpc in
        try await MilvusClient(grpc, address: "\(address)", timeout: .seconds(1), retryFor: .seconds(1)).serverVersion()
      }
    }
    #expect(error?.rpcError.code == .unavailable)
    #expect(ContinuousClock.now - started < .seconds(30))
  }
}
