import BCTClient
import BCTMilvus
import BCTMilvusStore
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// What only the Milvus store has: replicas sharing one catalogue, and a Milvus
/// server that goes away under load. (Every other service test runs on both stores.)
@Suite("bct-retrieval on Milvus: replicas and a restarting Milvus", .serialized)
struct MilvusStoreProcessTests {
  static func location(_ server: some RestartableMilvus, _ prefix: String) -> [String] {
    ["--store", "milvus://127.0.0.1:\(server.port)/\(prefix)"]
  }

  @Test("version collections: names Milvus takes, distinct for versions that differ only in characters it does not take")
  func collectionNames() throws {
    let location = try MilvusLocation(parsing: "milvus://127.0.0.1:19530/shop")
    #expect(location.stateCollection == "shop_state")
    #expect(location.collection(for: "v2") == "shop_v_v2")
    let names = ["v2-wide", "v2_wide", "v2.wide", "v2 wide", "v2-wide\"", "é"].map(location.collection(for:))
    #expect(Set(names).count == names.count, "\(names)")
    #expect(names.allSatisfy { MilvusLocation.isValidName($0) && $0.count <= 255 }, "\(names)")
    #expect(MilvusLocation.isValidName(location.collection(for: String(repeating: "x", count: 1000))))
  }

  @Test("a read-only replica searches what the writer stored, follows its in-place upgrade and its new collections, and refuses writes (real Milvus)")
  func replicas() async throws {
    try await StoreKind.milvus.with { location in
      let encoder = try await Fixtures.startEncoder(try await RetrievalProcessTests.repository())
      defer { Task { await encoder.kill9() } }
      let writer = try await Fixtures.startRetrieval(
        encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-writer"), extra: location)
      let reader = try await Fixtures.startRetrieval(
        encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-reader"),
        extra: location + ["--read-only"])
      defer { Task { await writer.kill9(); await reader.kill9() } }
      try await RetrievalProcessTests.withClients(writer.port, { writing, _ in
        try await RetrievalProcessTests.withClients(reader.port, { reading, _ in
          _ = try await writing.upsert(RetrievalProcessTests.upsertRequest(0..<300, version: "v1"))
          let query = RetrievalProcessTests.rawSearch(0..<10, k: 5)
          let fromWriter = try await writing.search(query)
          let fromReader = try await reading.search(query)
          #expect(fromReader.results.map { $0.hits.map(\.id) } == fromWriter.results.map { $0.hits.map(\.id) })
          #expect(fromReader.results.first?.hits.first?.metadata["label"] == "\(RetrievalProcessTests.test.labels[0])")
          let stats = try await reading.stats()
          #expect(stats.documents == 300 && stats.documentVersion == "v1" && stats.indexKind.hasPrefix("milvus-hnsw"))

          // Ids Milvus sees inside quoted expression literals: each is stored, found and deleted as itself.
          let odd = ["q\"uote", "back\\slash", "new\nline", "nul\u{0}byte", "tab\tand]", "é☃", "\" or id != \""]
          var request = RetrievalProcessTests.upsertRequest(300..<(300 + odd.count), version: "v1")
          for (i, id) in odd.enumerated() { request.documents[i].id = id }
          #expect(try await writing.upsert(request).inserted == UInt32(odd.count))
          let replaced = try await writing.upsert(request)
          #expect(replaced.replaced == UInt32(odd.count) && replaced.inserted == 0)
          let own = try await reading.search(RetrievalProcessTests.rawSearch(300..<(300 + odd.count), k: 1, version: "v1"))
          #expect(own.results.map { $0.hits.first?.id } == odd, "\(own.results.map { $0.hits.first?.id })")
          let removed = try await writing.delete(.with { $0.ids = odd })
          #expect(removed.deleted == UInt32(odd.count) && removed.missing.isEmpty)
          #expect(try await reading.stats().documents == 300)

          let upsert = await Fixtures.rpcError { try await reading.upsert(RetrievalProcessTests.upsertRequest(300..<301)) }
          #expect(upsert?.code == .failedPrecondition && upsert?.message.contains("read-only") == true, "\(String(describing: upsert))")
          #expect(await Fixtures.rpcError { try await reading.delete(.with { $0.ids = ["test-1"] }) }?.code == .failedPrecondition)
          #expect(await Fixtures.rpcError { try await reading.backfill(.with { $0.targetVersion = "v2" }) }?.code == .failedPrecondition)

          // The writer's in-place upgrade: the reader sees the new version and the switch of document version.
          let last = try await writing.backfill(.with { $0.targetVersion = "v2"; $0.batchSize = 100 })
          #expect(last?.state == .completed && last?.done == 300)
          let after = try await reading.search(query)
          #expect(after.documentVersions == ["v2"] && after.queryModelVersion == "v2")
          #expect(try await reading.stats().documentVersion == "v2")

          // A collection the writer creates after the reader started: the reader finds it
          // when a request first names it; creating and dropping on the reader are refused.
          _ = try await writing.createCollection("tenant_a")
          _ = try await writing.addressing("tenant_a").upsert(RetrievalProcessTests.upsertRequest(0..<20, version: "v1"))
          let tenant = try await reading.addressing("tenant_a").search(RetrievalProcessTests.rawSearch(0..<2, k: 50, version: "v1"))
          #expect(tenant.results.map(\.hits.count) == [20, 20])
          #expect(try await reading.listCollections().map(\.name) == ["default", "tenant_a"])
          #expect(await Fixtures.rpcError { try await reading.createCollection("tenant_b") }?.code == .failedPrecondition)
          #expect(await Fixtures.rpcError { try await reading.dropCollection("tenant_a") }?.code == .failedPrecondition)
        }, encoderPort: encoder.port)
      }, encoderPort: encoder.port)
      #expect(await writer.terminate() == 0)
      #expect(await reader.terminate() == 0)
    }
  }

  @Test("milvus-lite restarted under a stream of upserts: upserts wait for it, every acknowledged document is kept and searchable")
  func milvusRestartUnderLoad() async throws {
    try await Self.restartUnderLoad(try await MilvusLiteServer())
  }

  /// Restarts `milvus` while a stream of upserts runs through bct-retrieval (each upsert
  /// waiting up to `wait`); kills every server started at the end.
  static func restartUnderLoad(_ milvus: some RestartableMilvus, wait: Duration = .seconds(60)) async throws {
    let servers = MilvusServers(milvus)
    do {
      try await restartUnderLoad(milvus, servers, wait: wait)
    } catch {
      await servers.killAll()
      throw error
    }
    await servers.killAll()
  }

  private static func restartUnderLoad<Server: RestartableMilvus>(
    _ milvus: Server, _ servers: MilvusServers, wait: Duration
  ) async throws {
    let encoder = try await Fixtures.startEncoder(try await RetrievalProcessTests.repository())
    let retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-milvus-restart"),
      extra: Self.location(milvus, "restart") + ["--milvus-retry-seconds", "\(wait.components.seconds)"])
    defer { Task { await retrieval.kill9(); await encoder.kill9() } }
    let acknowledged = AckLog()
    let ingest = RetrievalProcessTests.ingest(port: retrieval.port, batches: 15, timeout: wait + .seconds(30), into: acknowledged)
    while await acknowledged.ids.count < 100 { try await Task.sleep(for: .milliseconds(10)) }
    await milvus.stop(grace: .seconds(30))
    let acknowledgedWhileDown = await acknowledged.ids.count
    try await Task.sleep(for: .seconds(1))
    #expect(await acknowledged.ids.count == acknowledgedWhileDown, "no upsert is acknowledged while Milvus is down")
    await servers.add(try await milvus.restarted())
    try await ingest.value
    let acked = await acknowledged.ids
    #expect(acknowledgedWhileDown < 300, "the stream straddles the restart")
    #expect(acked.count == 300, "every upsert was acknowledged once Milvus was back")
    try await RetrievalProcessTests.withClients(retrieval.port, { client, _ in
      #expect(try await client.stats().documents == UInt64(acked.count))
      let found = try await client.search(RetrievalProcessTests.rawSearch(150..<160, k: 1, version: "v1"))
      #expect(found.results.enumerated().allSatisfy { $0.element.hits.first?.id == "test-\(150 + $0.offset)" }, "each document finds itself")
      let deleted = try await client.delete(.with { $0.ids = acked })
      #expect(deleted.deleted == UInt32(acked.count), "every acknowledged id is present")
    }, encoderPort: encoder.port)
    #expect(await retrieval.terminate() == 0)
  }
}

/// The Milvus servers a test started, to kill at its end.
actor MilvusServers {
  private var servers: [any RestartableMilvus]

  init(_ first: any RestartableMilvus) { servers = [first] }

  func add(_ server: any RestartableMilvus) { servers.append(server) }

  func killAll() async {
    for server in servers { await server.kill9() }
  }
}
