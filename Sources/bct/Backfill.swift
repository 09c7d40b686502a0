import ArgumentParser
import BCTClient
import BCTProto
import Foundation

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
  @Flag(help: "Move by the target's certified document transform (bct adapt) applied to the stored vectors: no re-embedding, documents stored only as embeddings move too; in place where the target is certified natively against the documents' version, a shadow upgrade otherwise.")
  var transform = false
  @Flag(help: "With --transform: move by a transform that is usable but NOT certified, on your word; always a shadow upgrade you can roll back within the grace period.")
  var allowUncertified = false

  func validate() throws {
    guard ["auto", "in-place", "shadow"].contains(mode) else { throw ValidationError("--mode must be auto, in-place or shadow") }
    guard [stop, finalize, rollback].filter({ $0 }).count <= 1 else { throw ValidationError("--stop, --finalize and --rollback exclude each other") }
    guard !to.isEmpty || finalize || rollback else { throw ValidationError("--to is required to start a backfill") }
    guard !allowUncertified || transform else { throw ValidationError("--allow-uncertified goes with --transform") }
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
      request.transform = transform
      request.allowUncertified = allowUncertified
      request.graceSeconds = grace
      request.mode = mode == "shadow" ? .shadow : mode == "in-place" ? .inPlace : .auto
      let json = connection.json
      let started = ProgressBar.seconds()
      let last = try await connection.withRetrieval { client in
        try await client.backfill(request, timeout: nil) { progress in
          guard !json, !finalize, !rollback else { return }
          var bar = ProgressBar()
          bar.update(label: "\(progress.mode == .shadow ? "shadow backfill" : "backfill") to \(progress.targetVersion)", done: Int(progress.done), total: Int(progress.total),
                     detail: ProgressBar.rate(progress, since: started) + (progress.state == .running ? String(format: "  ETA %.0fs", progress.etaSeconds) : "") + " " + progress.message,
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
