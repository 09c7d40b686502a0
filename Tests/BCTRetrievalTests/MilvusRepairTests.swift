import BCTClient
import BCTCollection
import BCTMilvus
import BCTMilvusStore
import BCTRetrieval
import BCTTestSupport
import Foundation
import Testing

/// The Milvus store on the real Milvus server: backfill batches cut short between their
/// two writes (a crash of bct-retrieval) are found and repaired, so an upgrade always
/// completes and never switches with a document missing.
@Suite("Milvus store (real server): batches cut short by a crash")
struct MilvusRepairTests {
  static func document(_ id: String, version: String, seed: Int) -> StoredDocument {
    let vector = (0..<8).map { Float(sin(Double(seed * 8 + $0))) }
    return StoredDocument(id: id, metadata: ["n": id], inputShape: [4], input: [1, 2, 3, Float(seed)], version: version, vector: vector)
  }

  static func withStore(_ body: (MilvusCollectionStore, MilvusClient, MilvusLocation) async throws -> Void) async throws {
    try await withMilvusStore(at: try RealMilvusServer.sharedAddress(), prefix: "repair\(UInt32.random(in: 1...UInt32.max))", inputSize: 4, body)
  }

  static func layout(_ location: MilvusLocation, _ version: String) throws -> MilvusDocumentCollection {
    try MilvusDocumentCollection(name: location.collection(for: version), dimension: 8, inputSize: 4)
  }

  @Test("in place: a move cut short leaves the newer row; a document re-upserted since keeps its new body")
  func inPlace() async throws {
    try await Self.withStore { store, client, location in
      try await store.commit(.upsert(["a", "b", "c", "d"].enumerated().map { Self.document($1, version: "v1", seed: $0) }))
      let plan = BackfillPlan(target: "v2", batchSize: 10, rate: 0)
      try await store.commit(.setBackfill(plan))
      try await store.commit(.reembed([.init(id: "a", version: "v2", vector: Self.document("a", version: "v2", seed: 10).vector)]))
      let v1 = try Self.layout(location, "v1")
      let v2 = try Self.layout(location, "v2")
      // b: its v2 row written, the v1 row not yet deleted (same body: a move).
      var b = try #require(try await client.fetch(v1, ids: ["b"]).first)
      b.embedding = Self.document("b", version: "v2", seed: 11).vector
      try await client.upsert(v2, [b])
      // d: an older v2 row beside a newer v1 body (the document was replaced after its move was written).
      var d = try #require(try await client.fetch(v1, ids: ["d"]).first)
      try await store.commit(.upsert([Self.document("d", version: "v1", seed: 33)]))
      d.embedding = Self.document("d", version: "v2", seed: 13).vector
      try await client.upsert(v2, [d])

      let pending = try await store.pendingIDs(plan, skipping: [], limit: 100)
      #expect(Set(pending) == ["c", "d"], "b was moved already; c was not; d's newer body is v1's")
      #expect(try await client.fetch(v1, ids: ["b"]).isEmpty, "b's stale v1 row is gone")
      #expect(try await client.fetch(v2, ids: ["d"]).isEmpty, "d's stale v2 row is gone")
      let documents = try await store.documents(["b", "d"])
      #expect(documents.map(\.document.version).sorted() == ["v1", "v2"])
      #expect(documents.first { $0.document.id == "d" }?.document.input == [1, 2, 3, 33])
    }
  }

  @Test("shadow: a target row written before its searched row was marked is counted done; the switch waits for every target row")
  func shadow() async throws {
    // A target version whose name is longer than a row's mark field.
    let target = "v3-" + String(repeating: "x", count: 200)
    try await Self.withStore { store, client, location in
      try await store.commit(.upsert(["a", "b", "c"].enumerated().map { Self.document($1, version: "v1", seed: $0) }))
      let upgrade = ShadowUpgrade(target: target, previousVersions: ["v1"], previousDocumentVersion: "v1", graceSeconds: 60, reason: "test")
      let plan = BackfillPlan(target: target, batchSize: 10, rate: 0, shadow: true)
      try await store.commit(.startShadow(upgrade, plan))
      try await store.commit(.shadowEmbed([.init(id: "a", version: target, vector: Self.document("a", version: target, seed: 20).vector)]))
      // b: its target row written, the searched row not yet marked.
      var b = try #require(try await client.fetch(Self.layout(location, "v1"), ids: ["b"]).first)
      b.embedding = Self.document("b", version: target, seed: 21).vector
      try await client.upsert(Self.layout(location, target), [b])

      #expect(try await store.view(ViewQuery(pendingFor: plan)).pending)
      #expect(try await store.pendingIDs(plan, skipping: [], limit: 100) == ["c"])
      #expect(try await store.view(ViewQuery(pendingFor: plan)).pending, "c still needs its target row")
      try await store.commit(.shadowEmbed([.init(id: "c", version: target, vector: Self.document("c", version: target, seed: 22).vector)]))
      #expect(try await store.pendingIDs(plan, skipping: [], limit: 100).isEmpty)
      #expect(try await !store.view(ViewQuery(pendingFor: plan)).pending)
      let view = try await store.view(ViewQuery(sizes: true))
      #expect(view.targetCopyCount == 3 && view.documentCount == 3)
    }
  }
}
