import BCTCollection
import BCTIndex
import BCTMilvus
import BCTMilvusStore
import BCTNumerics
import BCTRetrieval
import BCTTestSupport
import Foundation
import Testing

/// The Milvus store on the real Milvus server: a shadow upgrade back to a version
/// whose collection an in-place backfill emptied, and the reply cap checked
/// before (and while) hit metadata is fetched.
@Suite("Milvus store: emptied version collections and the reply cap")
struct MilvusRound3Tests {
  typealias Repair = MilvusRepairTests

  @Test("a shadow upgrade back to a version emptied by an in-place backfill fills, takes raw upserts and switches")
  func shadowBackToEmptied() async throws {
    try await Repair.withStore { store, _, _ in
      try await store.commit(.upsert(["a", "b"].enumerated().map { Repair.document($1, version: "v1", seed: $0) }))
      try await store.commit(.setBackfill(BackfillPlan(target: "v2", batchSize: 10, rate: 0)))
      try await store.commit(.reembed(["a", "b"].enumerated().map { .init(id: $1, version: "v2", vector: Repair.document($1, version: "v2", seed: 10 + $0).vector) }))
      try await store.commit { _ in [.setDocumentVersion("v2"), .setBackfill(nil)] }
      #expect(try await store.view(ViewQuery()).searched == ["v2"])
      let upgrade = ShadowUpgrade(target: "v1", previousVersions: ["v2"], previousDocumentVersion: "v2", graceSeconds: 60, reason: "test")
      let plan = BackfillPlan(target: "v1", batchSize: 10, rate: 0, shadow: true)
      try await store.commit(.startShadow(upgrade, plan))
      try await store.commit(.shadowEmbed([.init(id: "a", version: "v1", vector: Repair.document("a", version: "v1", seed: 20).vector)]))
      var c = Repair.document("c", version: "v2", seed: 5)
      c.counterpart = VersionedVector(version: "v1", vector: Repair.document("c", version: "v1", seed: 6).vector)
      try await store.commit(.upsert([c]))
      #expect(try await store.pendingIDs(plan, skipping: [], limit: 10) == ["b"])
      try await store.commit(.shadowEmbed([.init(id: "b", version: "v1", vector: Repair.document("b", version: "v1", seed: 21).vector)]))
      #expect(try await store.pendingIDs(plan, skipping: [], limit: 10).isEmpty)
      try await store.commit(.switchShadow(at: 1))
      let view = try await store.view(ViewQuery(sizes: true))
      #expect(view.searched == ["v1"] && view.documentCount == 3)
    }
  }

  @Test("a reply over the cap is refused from the hits alone, or as soon as fetched metadata passes it")
  func replyCap() async throws {
    try await Repair.withStore { store, _, _ in
      let docs = (0..<40).map { i -> StoredDocument in
        var doc = Repair.document("d\(i)", version: "v1", seed: i)
        doc.metadata = ["blob": String(repeating: "x", count: 200)]
        return doc
      }
      try await store.commit(.upsert(docs))
      try await Task.sleep(for: .seconds(1))
      let query = Matrix(rows: 1, columns: 8, values: docs[0].vector)
      await #expect(throws: ReplyTooLarge.self) {
        _ = try await store.search(query, k: 20, options: SearchOptions(maxReplyBytes: 100)) { _ in }
      }
      await #expect(throws: ReplyTooLarge.self) {
        _ = try await store.search(query, k: 20, options: SearchOptions(maxReplyBytes: 2000)) { _ in }
      }
      let found = try await store.search(query, k: 20, options: SearchOptions(maxReplyBytes: 1 << 20)) { _ in }
      #expect(found.hits[0].count == 20)
      #expect(found.hits[0].allSatisfy { found.metadata[$0.scored.id]?["blob"]?.count == 200 })
    }
  }
}
