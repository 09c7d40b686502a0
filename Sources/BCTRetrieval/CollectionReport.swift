import BCTProto

/// The Stats answer: documents per searched version, memory of every copy,
/// the default query version under the version policy, backfill and shadow state.
public enum CollectionReport {
  /// Statistics of `store` with the encoder's `table` as last seen.
  public static func stats(store: DocumentStore, table: ModelTable, backfill: Bct_V1_BackfillProgress) -> Bct_V1_StatsResponse {
    var (response, present) = store.read { state in
      var response = Bct_V1_StatsResponse()
      response.documents = UInt64(state.documents.count)
      response.versions = state.index.countsByVersion.sorted { $0.key < $1.key }.map { version, count in
        var stats = Bct_V1_VersionStats()
        stats.modelVersion = version
        stats.documents = UInt64(count)
        stats.embeddingDim = Int32(state.index.dimension(of: version) ?? 0)
        if let description = state.index.description(of: version) {
          var index = Bct_V1_SegmentIndex()
          index.kind = description.kind
          index.m = UInt32(description.hnsw?.m ?? 0)
          index.efConstruction = UInt32(description.hnsw?.efConstruction ?? 0)
          index.efSearch = UInt32(description.hnsw?.efSearch ?? 0)
          index.memoryBytes = UInt64(description.memoryBytes)
          index.deletedNodes = UInt64(description.deletedNodes)
          stats.index = index
        }
        return stats
      }
      response.indexKind = switch state.index.kind {
      case .flat: "flat-ip (exact inner product, OpenBLAS)"
      case .hnsw: "\(state.index.kind.name) (approximate inner product, hnswlib)"
      }
      response.documentVersion = state.documentVersion ?? ""
      response.embeddingBytes = UInt64(state.index.vectorBytes + state.counterpart.vectorBytes)
      response.rawInputBytes = UInt64(state.rawInputBytes)
      response.metadataBytes = UInt64(state.metadataBytes + state.documents.keys.reduce(0) { $0 + $1.utf8.count })
      if state.shadow != nil { response.shadow = Backfiller.shadowStatus(state) }
      return (response, state.index.versions)
    }
    response.sequence = store.sequence
    response.defaultQueryVersion = (try? VersionPolicy(table: table).defaultQueryVersion(documents: present)) ?? ""
    response.backfill = backfill
    return response
  }
}
