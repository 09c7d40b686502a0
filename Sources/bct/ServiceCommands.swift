import ArgumentParser
import BCTClient
import BCTData
import BCTNumerics
import BCTProto
import Foundation
import GRPCCore

/// `bct models`: the versions the encoder hosts.
struct Models: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List the model versions the encoder hosts.")
  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    try await connection.traced("models") {
      let listing = try await connection.withEncoder { try await $0.listModels(timeout: connection.timeout) }
      if connection.json {
        try printJSON(["default_version": listing.defaultVersion, "models": listing.models.map { m in
          ["version": m.version, "architecture": m.architecture, "embedding_dim": Int(m.embeddingDim),
           "input_shape": m.inputShape.map(Int.init), "lineage": m.lineage, "parent_version": m.parentVersion,
           "compatible_with": m.compatibleWith, "head_fingerprint": m.headFingerprint, "is_default": m.isDefault,
           "objective": m.training.compatibilityObjective,
           "compatibility": m.compatibility.mapValues(relationName),
           "certificates": m.certificates.map { c in
             ["old_version": c.oldVersion, "verdict": c.verdict == .certified ? "certified" : "uncertified",
              "top1": [c.top1.oldOld, c.top1.newOld, c.top1.newNew],
              "mean_average_precision": [c.meanAveragePrecision.oldOld, c.meanAveragePrecision.newOld, c.meanAveragePrecision.newNew],
              "margin_points": c.marginPoints, "split": c.split, "examples": Int(c.examples), "reasons": c.reasons,
              "bounds": c.hasBounds ? boundsJSON(c.bounds) : NSNull()] as [String: Any]
           }] as [String: Any]
        }])
        return
      }
      print("\(column("version", 16)) \(column("arch", 5)) \(column("dim", 4)) \(column("lineage", 13)) \(column("parent", 10)) certified with")
      for m in listing.models {
        print("\(column(m.version + (m.isDefault ? "*" : ""), 16)) \(column(m.architecture, 5)) \(column("\(m.embeddingDim)", 4)) \(column(String(m.lineage.prefix(12)), 13)) \(column(m.parentVersion.isEmpty ? "-" : m.parentVersion, 10)) \(m.compatibleWith.isEmpty ? "-" : m.compatibleWith.joined(separator: ", "))")
      }
      print("* default version")
      let certificates = listing.models.flatMap { m in m.certificates.map { (m.version, $0) } }
      if !certificates.isEmpty { print("\ncertificates (top-1 and mAP: old/old -> new/old -> new/new, %):") }
      for (version, c) in certificates {
        func p(_ f: Bct_V1_CriterionFigures) -> String { String(format: "%.1f -> %.1f -> %.1f", f.oldOld * 100, f.newOld * 100, f.newNew * 100) }
        print("  \(version) vs \(c.oldVersion): \(c.verdict == .certified ? "certified" : "NOT certified")  top-1 \(p(c.top1))  mAP \(p(c.meanAveragePrecision))  (\(c.examples) examples, \(c.split))")
        print("    " + (c.hasBounds ? boundsText(c.bounds, margin: c.marginPoints) : "no confidence bounds"))
        for reason in c.reasons { print("    - \(reason)") }
      }
    }
  }
}

/// A certificate's bounds as JSON.
func boundsJSON(_ b: Bct_V1_CertificateBounds) -> [String: Any] {
  ["method": b.method, "resamples": Int(b.resamples), "confidence": b.confidence, "seed": Int(b.seed),
   "catalogue_size": Int(b.catalogueSize), "hub_design_effect": b.hubDesignEffect,
   "steps": b.steps.map { s in
     ["metric": s.metric, "step": s.step, "estimate_points": s.estimatePoints, "projected_points": s.projectedPoints,
      "lower_bound_points": s.lowerBoundPoints, "slope_points_per_doubling": s.slopePointsPerDoubling] as [String: Any]
   },
   "gallery_curve": b.galleryCurve.map { p in
     ["gallery_size": Int(p.gallerySize), "top1": [p.top1.oldOld, p.top1.newOld, p.top1.newNew],
      "mean_average_precision": [p.meanAveragePrecision.oldOld, p.meanAveragePrecision.newOld, p.meanAveragePrecision.newNew]] as [String: Any]
   }]
}

/// "lower bounds (95%, ...): top-1 cross +0.81 (estimate +1.20), ..." on one line.
func boundsText(_ b: Bct_V1_CertificateBounds, margin: Double) -> String {
  let steps = b.steps.map { String(format: "%@ %@ %+.2f (estimate %+.2f)", $0.metric, $0.step, $0.lowerBoundPoints, $0.estimatePoints) }
  return String(format: "lower bounds at %g%%, must exceed %.2f: ", b.confidence * 100, margin) + steps.joined(separator: ", ")
    + " [\(b.method), \(b.resamples) resamples, seed \(b.seed), projected to \(b.catalogueSize) documents"
    + (b.hubDesignEffect > 0 ? String(format: ", hub design effect %.1f]", b.hubDesignEffect) : "]")
}

/// A pair relation as text.
func relationName(_ relation: Bct_V1_PairCompatibility) -> String {
  switch relation {
  case .certified: return "certified"
  case .uncertified: return "uncertified"
  case .incompatible: return "incompatible"
  default: return "unknown"
  }
}

/// `bct embed`: embeddings of inputs, written as .npy or printed.
struct Embed: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Embed inputs with a model version; write .npy or print.")
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var input: InputOptions
  @Option(name: .customLong("model-version"), help: "Model version; default: the encoder's default.") var version: String = ""
  @Flag(help: "Return the raw backbone output instead of unit-length rows.") var raw = false
  @Option(help: "Write the embeddings to this .npy file instead of printing them.") var out: String?
  @Option(help: "Inputs per request.") var batch: Int = 256

  func run() async throws {
    try await connection.traced("embed") {
      let (inputs, _, first, source) = try input.load()
      let requested = version
      let (used, embeddings) = try await connection.withEncoder { client -> (String, Matrix) in
        let shape = try inputShape(of: requested, in: try await client.listModels(timeout: connection.timeout))
        try checkWidth(inputs.columns, fits: shape, source: source)
        var rows: [Float] = []
        var used = requested
        var dim = 0
        for start in stride(from: 0, to: inputs.rows, by: max(1, batch)) {
          let part = inputs.rows(start..<min(inputs.rows, start + batch))
          let result = try await client.embed(part, rowShape: shape, version: requested, normalize: !raw, timeout: connection.timeout)
          used = result.version
          dim = result.embeddings.columns
          rows += result.embeddings.values
        }
        return (used, Matrix(rows: inputs.rows, columns: dim, values: rows))
      }
      if let out {
        try Data(NPY.encode(shape: [embeddings.rows, embeddings.columns], values: embeddings.values)).write(to: URL(fileURLWithPath: out))
        print("wrote \(embeddings.rows) x \(embeddings.columns) embeddings by \(used) to \(out)")
      } else if connection.json {
        try printJSON(["model_version": used, "first": first, "embeddings": (0..<embeddings.rows).map { embeddings.row($0) }])
      } else {
        for r in 0..<embeddings.rows {
          let row = embeddings.row(r)
          print("\(first + r) \(used) " + row.map { String(format: "%.5f", $0) }.joined(separator: " "))
        }
      }
    }
  }
}

/// `bct upsert` / `bct index`: bulk-load inputs into the retrieval service.
struct Upsert: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Index inputs (a file or a dataset split) in the retrieval service, in batches.",
    aliases: ["index"])
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var input: InputOptions
  @Option(name: .customLong("model-version"), help: "Version to embed with; default: the collection's document version.") var version: String = ""
  @Flag(help: "Store documents of a version not certified against those in the index (same lineage).") var allowUncertified = false
  @Option(help: "Ids are this prefix plus the item's index.") var idPrefix: String = "item-"
  @Option(help: "Documents per request.") var batch: Int = 500

  func run() async throws {
    try await connection.traced("upsert") {
      let (inputs, labels, first, source) = try input.load()
      let shape = try await connection.withEncoder { client in
        try inputShape(of: version, in: try await client.listModels(timeout: connection.timeout))
      }
      try checkWidth(inputs.columns, fits: shape, source: source)
      var progress = ProgressBar()
      var (inserted, replaced) = (0, 0)
      var usedVersion = version
      let start = ProgressBar.seconds()
      try await connection.withRetrieval { client in
        for offset in stride(from: 0, to: inputs.rows, by: max(1, batch)) {
          let end = min(inputs.rows, offset + batch)
          var request = Bct_V1_UpsertRequest()
          request.modelVersion = version
          request.allowUncertified = allowUncertified
          request.documents = (offset..<end).map { r in
            var metadata = ["source": source, "index": "\(first + r)"]
            if let labels { metadata["label"] = "\(labels[r])" }
            return Bct_V1_Document(id: "\(idPrefix)\(first + r)", metadata: metadata, inputs: inputs, row: r, shape: shape)
          }
          let response = try await client.upsert(request, timeout: connection.timeout)
          inserted += Int(response.inserted)
          replaced += Int(response.replaced)
          usedVersion = response.modelVersion
          let rate = Double(end) / max(ProgressBar.seconds() - start, 1e-6)
          progress.update(label: "indexing", done: end, total: inputs.rows,
                          detail: String(format: "%.0f docs/s", rate), finished: end == inputs.rows)
        }
      }
      if connection.json {
        try printJSON(["inserted": inserted, "replaced": replaced, "model_version": usedVersion])
      } else {
        print("indexed \(inputs.rows) documents from \(source) with \(usedVersion): \(inserted) new, \(replaced) replaced")
      }
    }
  }
}

/// `bct search`: nearest documents for queries.
struct Search: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Search the retrieval service with queries from a file or a dataset split.")
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var input: InputOptions
  @Option(name: .short, help: "Neighbours per query.") var k: Int = 5
  @Option(name: .customLong("model-version"), help: "Version to embed the queries with; default: the newest certified against every document version in the index.") var version: String = ""
  @Flag(help: "Compare with document versions the query version holds no passing certificate for (same lineage).") var allowUncertified = false

  func run() async throws {
    try await connection.traced("search") {
      let (inputs, labels, first, source) = try input.load()
      let shape = try await connection.withEncoder { client in
        try inputShape(of: version, in: try await client.listModels(timeout: connection.timeout))
      }
      try checkWidth(inputs.columns, fits: shape, source: source)
      var request = Bct_V1_SearchRequest()
      request.inputs = Bct_V1_Tensor(batch: inputs, rowShape: shape)
      request.k = Int32(clamping: k)
      request.queryModelVersion = version
      request.allowUncertified = allowUncertified
      let response = try await connection.withRetrieval { try await $0.search(request, timeout: connection.timeout) }
      if connection.json {
        try printJSON(["query_model_version": response.queryModelVersion, "document_versions": response.documentVersions,
                       "results": response.results.enumerated().map { q, result in
                         ["query": first + q, "hits": result.hits.map { ["id": $0.id, "score": Double($0.score), "document_version": $0.documentVersion, "metadata": $0.metadata] as [String: Any] }] as [String: Any]
                       }])
        return
      }
      print("queries embedded with \(response.queryModelVersion); documents of \(response.documentVersions.joined(separator: ", "))")
      for (q, result) in response.results.enumerated() {
        print("\nquery \(first + q)\(labels.map { " (label \($0[q]))" } ?? "")")
        print("  rank  \(column("id", 20)) score    version     metadata")
        for (rank, hit) in result.hits.enumerated() {
          let metadata = hit.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
          print("  \(column("\(rank + 1)", 4))  \(column(hit.id, 20)) \(String(format: "%.4f", hit.score))  \(column(hit.documentVersion, 10))  \(metadata)")
        }
      }
    }
  }
}

/// `bct delete`: remove documents.
struct Delete: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Delete documents by id.")
  @OptionGroup var connection: ConnectionOptions
  @Argument(help: "Document ids.") var ids: [String]
  @Flag(help: "Skip ids that do not exist instead of failing.") var allowMissing = false

  func run() async throws {
    try await connection.traced("delete") {
      var request = Bct_V1_DeleteRequest()
      request.ids = ids
      request.allowMissing = allowMissing
      let response = try await connection.withRetrieval { try await $0.delete(request, timeout: connection.timeout) }
      if connection.json {
        try printJSON(["deleted": Int(response.deleted), "missing": response.missing])
      } else {
        print("deleted \(response.deleted)" + (response.missing.isEmpty ? "" : "; not found: \(response.missing.joined(separator: ", "))"))
      }
    }
  }
}

/// `bct backfill`: move documents to a newer compatible version, with live progress.
struct Backfill: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Move the index to another version; shows progress (Ctrl-C leaves it running, resumable).",
    discussion: """
      To a version certified against every document version in the index, the backfill runs in \
      place. Otherwise it is a shadow backfill: searches keep using the current embeddings while \
      every document gains one of the target, then one durable switch moves searches to the target; \
      the previous embeddings are kept for the grace period. --finalize drops them now; --rollback \
      returns to them (before the switch, or within the grace period) with nothing lost.
      """)
  @OptionGroup var connection: ConnectionOptions
  @Option(help: "Target version (not needed with --finalize or --rollback).") var to: String = ""
  @Option(help: "Documents per encoder call (0: server default).") var batchSize: Int = 0
  @Option(help: "Documents per second at most (0: unlimited).") var rate: Double = 0
  @Option(help: "auto (the version policy chooses), in-place or shadow.") var mode: String = "auto"
  @Option(help: "Seconds a shadow upgrade keeps the previous embeddings after the switch (0: server default).") var grace: Double = 0
  @Flag(help: "Stop the running backfill at the next batch (start it again to resume).") var stop = false
  @Flag(help: "Drop the previous embeddings of a switched shadow upgrade now.") var finalize = false
  @Flag(help: "Abandon the shadow upgrade: searches return to the previous embeddings, nothing is lost.") var rollback = false

  func validate() throws {
    guard ["auto", "in-place", "shadow"].contains(mode) else { throw ValidationError("--mode must be auto, in-place or shadow") }
    guard [stop, finalize, rollback].filter({ $0 }).count <= 1 else { throw ValidationError("--stop, --finalize and --rollback exclude each other") }
    guard !to.isEmpty || finalize || rollback else { throw ValidationError("--to is required to start a backfill") }
  }

  func run() async throws {
    try await connection.traced("backfill") {
      var request = Bct_V1_BackfillRequest()
      request.targetVersion = to
      request.batchSize = UInt32(clamping: batchSize)
      request.maxDocumentsPerSecond = rate
      request.stop = stop
      request.finalize = finalize
      request.rollback = rollback
      request.graceSeconds = grace
      request.mode = mode == "shadow" ? .shadow : mode == "in-place" ? .inPlace : .auto
      let json = connection.json
      let last = try await connection.withRetrieval { client in
        try await client.backfill(request, timeout: nil) { progress in
          guard !json, !finalize, !rollback else { return }
          var bar = ProgressBar()
          bar.update(label: "\(progress.mode == .shadow ? "shadow backfill" : "backfill") to \(progress.targetVersion)", done: Int(progress.done), total: Int(progress.total),
                     detail: String(format: "%.0f docs/s  ETA %.0fs %@", progress.documentsPerSecond, progress.etaSeconds, progress.message),
                     finished: progress.state != .running)
        }
      }
      guard let last else { return }
      if json {
        try printJSON(["target_version": last.targetVersion, "state": "\(last.state)", "mode": "\(last.mode)", "done": Int(last.done), "total": Int(last.total),
                       "skipped": Int(last.skipped), "message": last.message, "shadow_phase": "\(last.shadow.phase)"])
      } else {
        let mode = last.mode == .shadow ? "shadow backfill" : "backfill"
        print("\(mode) to \(last.targetVersion): \(last.state) — \(last.done)/\(last.total) documents\(last.skipped > 0 ? ", \(last.skipped) without raw input" : "")\(last.message.isEmpty ? "" : " (\(last.message))")")
        if last.hasShadow && last.shadow.phase != .unspecified { print(ShadowLines.describe(last.shadow).joined(separator: "\n")) }
      }
      if last.state == .failed { throw ExitCode(1) }
    }
  }
}

/// Lines describing a shadow upgrade, for `bct backfill` and `bct stats`.
enum ShadowLines {
  static func describe(_ s: Bct_V1_ShadowStatus) -> [String] {
    let mib = { (bytes: UInt64) in String(format: "%.1f MiB", Double(bytes) / 1048576) }
    var lines = ["shadow upgrade       to \(s.targetVersion) from \(s.previousVersions.joined(separator: ", ")): \(s.phase == .switched ? "switched at \(s.switchedAt), previous embeddings kept \(Int(s.graceRemainingSeconds)) s more" : "filling, \(s.shadowDocuments)/\(s.documents) documents")"]
    lines.append("  memory             searched \(mib(s.searchedEmbeddingBytes)), other copy \(mib(s.otherEmbeddingBytes))")
    if !s.reason.isEmpty { lines.append("  why shadow         \(s.reason)") }
    return lines
  }
}

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
      for v in s.versions { print("  \(column(v.modelVersion, 18)) \(v.documents) (dim \(v.embeddingDim))") }
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

/// `bct health`: the health of both services.
struct Health: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Check the services' health (exit 0 only if every checked one is SERVING).")
  @OptionGroup var connection: ConnectionOptions
  @Option(help: "Which: encoder, retrieval or both.") var service: String = "both"
  @Option(help: "Check only this model version on the encoder (health name bct.v1.Encoder/VERSION).")
  var modelVersion: String?

  func validate() throws {
    guard ["encoder", "retrieval", "both"].contains(service) else { throw ValidationError("--service must be encoder, retrieval or both") }
    if let modelVersion, modelVersion.isEmpty { throw ValidationError("--model-version must not be empty") }
  }

  func run() async throws {
    var healthy = true
    var report: [String: String] = [:]
    let targets: [(name: String, address: String, health: String)] = if let modelVersion {
      [("encoder/\(modelVersion)", connection.encoder, "bct.v1.Encoder/\(modelVersion)")]
    } else {
      [("encoder", connection.encoder, ""), ("retrieval", connection.retrieval, "")].filter { service == "both" || service == $0.name }
    }
    for (name, address, healthName) in targets {
      let status: String
      do {
        status = "\(try await withConnection(to: ServiceAddress(parsing: address), security: connection.security) { try await HealthClient($0).check(service: healthName, timeout: connection.timeout) })"
      } catch let error as RPCError where error.code == .notFound {
        status = "unknown"
      } catch let error as RPCError {
        status = "unreachable (\(error.code))"
      }
      report[name] = status
      healthy = healthy && status == "serving"
      if !connection.json { print("\(column(name, max(10, name.count + 1))) \(column(address, 22)) \(status)") }
    }
    if connection.json { try printJSON(report) }
    if !healthy { throw ExitCode(1) }
  }
}
