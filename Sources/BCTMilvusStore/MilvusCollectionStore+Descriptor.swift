import BCTCollection
import BCTMilvus
import Foundation

/// A named collection's descriptor record (its index settings), kept beside the
/// control record in the state collection: a collection exists exactly while its
/// record does.
extension MilvusCollectionStore {
  static let descriptorID = "collection"

  /// The descriptor record, or nil when there is none (an interrupted create or drop).
  func readDescriptor() async throws -> Data? {
    try await client.fetch(try stateCollection, ids: [Self.descriptorID], vectors: false).first?.metadata
  }

  /// Writes the descriptor record: the collection exists from here on.
  func writeDescriptor(_ data: Data) async throws {
    let row = MilvusDocument(id: Self.descriptorID, embedding: [0, 0], metadata: data, hasInput: false, input: [0, 0])
    try await client.upsert(try stateCollection, [row])
  }

  /// Drops every Milvus collection of this store (its state and version collections),
  /// with writers and flushes excluded; later writes are refused.
  func dropEverything() async throws {
    try await writer.withLock {
      retired.withLock { $0 = true }
      let own = try await client.collectionNames().filter {
        $0 == location.stateCollection || $0.hasPrefix("\(location.prefix)_v_")
      }
      for name in own.filter({ $0 != location.stateCollection }) + own.filter({ $0 == location.stateCollection }) {
        try await client.dropCollection(name)
      }
    }
  }
}
