import BCTCollection
import BCTProto
import Foundation

/// The Stats answer: documents per searched version, memory of every copy,
/// the default query version under the version policy, backfill and shadow state.
public enum CollectionReport {
  /// Statistics of `store` with the encoder's `table` as last seen.
  public static func stats(store: any CollectionStore, table: ModelTable, backfill: Bct_V1_BackfillProgress) async throws -> Bct_V1_StatsResponse {
    let view = try await store.view(ViewQuery(sizes: true))
    let statistics = try await store.statistics()
    var response = Bct_V1_StatsResponse()
    response.documents = UInt64(view.documentCount)
    response.versions = view.searchedCounts.sorted { $0.key < $1.key }.map { version, count in
      var stats = Bct_V1_VersionStats()
      stats.modelVersion = version
      stats.transformedFrom = TransformLabel.parse(version)?.source ?? ""
      stats.documents = UInt64(count)
      stats.embeddingDim = Int32(view.dimensions[version] ?? 0)
      if let description = statistics.segments[version] {
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
    response.indexKind = statistics.indexKind
    response.documentVersion = view.documentVersion ?? ""
    response.embeddingBytes = UInt64(view.searchedBytes + view.otherBytes)
    response.rawInputBytes = UInt64(statistics.rawInputBytes)
    response.metadataBytes = UInt64(statistics.metadataBytes)
    if view.shadow != nil { response.shadow = shadowStatus(view) }
    response.sequence = statistics.sequence
    response.defaultQueryVersion = (try? VersionPolicy(table: table).defaultQueryVersion(documents: view.searched)) ?? ""
    response.backfill = backfill
    return response
  }

  /// The shadow upgrade of `view` as reported by Stats and the Backfill stream.
  public static func shadowStatus(_ view: CollectionView, now: Date = Date()) -> Bct_V1_ShadowStatus {
    var out = Bct_V1_ShadowStatus()
    guard let upgrade = view.shadow else { return out }
    out.targetVersion = upgrade.target
    out.phase = upgrade.switched ? .switched : .filling
    out.previousVersions = upgrade.previousVersions
    out.shadowDocuments = UInt64(view.targetCopyCount)
    out.documents = UInt64(view.documentCount)
    out.searchedEmbeddingBytes = UInt64(view.searchedBytes)
    out.otherEmbeddingBytes = UInt64(view.otherBytes)
    out.reason = upgrade.reason
    if let at = upgrade.switchedAt {
      out.switchedAt = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: at))
      out.graceRemainingSeconds = max(0, at + upgrade.graceSeconds - now.timeIntervalSince1970)
    }
    return out
  }
}
