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
        return stats
      }
      response.indexKind = "flat-ip (exact inner product, OpenBLAS)"
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
