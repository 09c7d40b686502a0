import ArgumentParser
import BCTClient
import Foundation

/// `bct stats`: what the index holds.
struct Stats: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Show documents per version, memory and backfill state.")
  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    try await connection.traced("stats") {
      let s = try await connection.withRetrieval { try await $0.stats(timeout: connection.timeout) }
      if connection.json {
        try printJSON(["documents": Int(s.documents), "versions": Dictionary(uniqueKeysWithValues: s.versions.map { ($0.modelVersion, Int($0.documents)) }),
                       "document_version": s.documentVersion, "default_query_version": s.defaultQueryVersion, "index_kind": s.indexKind,
                       "embedding_bytes": Int(s.embeddingBytes), "raw_input_bytes": Int(s.rawInputBytes), "metadata_bytes": Int(s.metadataBytes),
                       "sequence": Int(s.sequence), "backfill_state": "\(s.backfill.state)",
                       "shadow": ["target_version": s.shadow.targetVersion, "phase": "\(s.shadow.phase)", "shadow_documents": Int(s.shadow.shadowDocuments),
                                  "searched_embedding_bytes": Int(s.shadow.searchedEmbeddingBytes), "other_embedding_bytes": Int(s.shadow.otherEmbeddingBytes),
                                  "grace_remaining_seconds": s.shadow.graceRemainingSeconds]])
        return
      }
      print("documents            \(s.documents)")
      for v in s.versions {
        let transformed = v.transformedFrom.isEmpty ? "" : ", transformed from \(v.transformedFrom), in \(v.modelVersion.replacingOccurrences(of: "<-" + v.transformedFrom, with: ""))'s space"
        print("  \(column(v.modelVersion, 18)) \(v.documents) (dim \(v.embeddingDim)\(transformed))")
      }
      print("document version     \(s.documentVersion.isEmpty ? "-" : s.documentVersion)")
      print("default query ver.   \(s.defaultQueryVersion.isEmpty ? "-" : s.defaultQueryVersion)")
      print("index                \(s.indexKind)")
      print(String(format: "memory               embeddings %.1f MiB, raw inputs %.1f MiB, ids+metadata %.1f MiB",
                   Double(s.embeddingBytes) / 1048576, Double(s.rawInputBytes) / 1048576, Double(s.metadataBytes) / 1048576))
      print("log sequence         \(s.sequence)")
      if s.hasShadow { print(ShadowLines.describe(s.shadow).joined(separator: "\n")) }
      if !s.backfill.targetVersion.isEmpty {
        print("backfill             \(s.backfill.state) to \(s.backfill.targetVersion): \(s.backfill.done)/\(s.backfill.total)")
      }
    }
  }
}
