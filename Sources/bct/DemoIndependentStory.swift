import ArgumentParser
import BCTClient
import BCTData
import BCTModelRepository
import BCTProcess
import BCTProto
import Foundation
import GRPCCore

/// Story 3 of `bct demo`: two models trained independently (no compatibility term,
/// other lineages), connected only by the adapters `bct adapt` fitted between them.
extension Demo {
  /// What story 3 measured through the services.
  struct IndependentStory {
    var documents: Int
    /// v1 queries on v1 documents.
    var before: Quality
    /// u1 queries through the query adapter on v1 documents, or why they were refused.
    var adapted: Result<Quality, DemoRefusal>
    /// u1 queries on the transformed documents, or why the transform backfill was refused.
    var transformed: Result<Quality, DemoRefusal>
    var transformSeconds: Double
    /// Why the certified transform backfill was refused, when the demo then moved the
    /// catalogue by T on the operator's word (allow_uncertified) and rolled it back.
    var uncertifiedRefusal: DemoRefusal?
    /// u1 queries after an ordinary backfill re-embedded every document with u1.
    var reembedded: Quality
    var reembedSeconds: Double
  }

  /// A refusal by the services, as a value.
  struct DemoRefusal: Error { var message: String }

  /// Trains u1 (an independent CNN on all the training data) unless present,
  /// and fits the adapters between v1 and u1 unless u1 holds them.
  func prepareIndependent(root: URL) async throws -> ModelVersion {
    let folder = root.appendingPathComponent("u1")
    let u1 = try trainIfMissing(folder, old: nil, fraction: 1) { config in
      config.architecture = .defaultCNN
      config.seed = 3
    }
    // (A plain loop: Swift 6.3.1's optimizer crashes on the equivalent `contains` closure.)
    for record in u1.manifest.adapters ?? [] where record.oldVersion == "v1" {
      if let size = record.certificate.bounds?.catalogueSize, size == documents { return u1 }
    }
    ProgressBar.write("fitting the adapters between v1 and u1 (bct adapt)...\n")
    let adapt = try Adapt.parse([
      "--old", root.appendingPathComponent("v1").path, "--new", folder.path, "--catalogue-size", "\(documents)",
      "--dataset", data.dataset, "--data-dir", data.dataDir,
    ])
    try await adapt.run()
    return try ModelVersion.load(from: folder)
  }

  /// Story 3 through `client` on an empty index: v1 documents, u1 queries refused
  /// natively, searched through P if certified, the catalogue moved by T (a transform
  /// backfill: kept when certified; otherwise moved on the operator's word into a
  /// shadow copy, measured, and rolled back), then re-embedded with u1 for comparison.
  func independentStory(_ client: RetrievalClient, test: Dataset, count: Int) async throws -> IndependentStory {
    _ = try await index(client, test: test, count: count, version: "v1")
    let before = try await measure(client, test: test, count: count, version: "v1")
    let adapted = await refusable { try await measure(client, test: test, count: count, version: "u1") }
    var moved = await transformBackfill(client, allowUncertified: false)
    var uncertifiedRefusal: DemoRefusal?
    if case .failure(let refusal) = moved, refusal.message.contains("allow_uncertified") {
      uncertifiedRefusal = refusal
      moved = await transformBackfill(client, allowUncertified: true)
    }
    let transformed = await refusable { () -> Quality in
      _ = try moved.get()
      return try await measure(client, test: test, count: count, version: "u1")
    }
    if case .success = moved {
      // Kept when certified; rolled back within the grace period when it was not: the
      // decision rests on the certificate's validation figures, never on these test ones.
      var decision = Bct_V1_BackfillRequest()
      if uncertifiedRefusal == nil { decision.finalize = true } else { decision.rollback = true }
      _ = try await client.backfill(decision)
    }
    let reembedStart = ProgressBar.seconds()
    var reembed = Bct_V1_BackfillRequest()
    reembed.targetVersion = "u1"
    reembed.batchSize = 256
    // Across lineages a re-embedding backfill must be a shadow upgrade, unless T already moved the index.
    if uncertifiedRefusal != nil || (try? moved.get()) == nil { reembed.mode = .shadow }
    let last = try await client.backfill(reembed) { progress in
      var bar = ProgressBar()
      bar.update(label: "re-embedding backfill to u1", done: Int(progress.done), total: Int(progress.total),
                 detail: ProgressBar.rate(progress, since: reembedStart), finished: progress.state != .running)
    }
    guard last?.state == .completed else { throw ValidationError("the backfill to u1 ended \(String(describing: last?.state))") }
    let reembedSeconds = ProgressBar.seconds() - reembedStart
    return IndependentStory(
      documents: count, before: before, adapted: adapted, transformed: transformed,
      transformSeconds: (try? moved.get()) ?? 0, uncertifiedRefusal: uncertifiedRefusal,
      reembedded: try await measure(client, test: test, count: count, version: "u1"), reembedSeconds: reembedSeconds)
  }

  /// A transform backfill to u1 with a progress bar: its seconds, or the refusal.
  private func transformBackfill(_ client: RetrievalClient, allowUncertified: Bool) async -> Result<Double, DemoRefusal> {
    var transform = Bct_V1_BackfillRequest()
    transform.targetVersion = "u1"
    transform.transform = true
    transform.allowUncertified = allowUncertified
    transform.batchSize = 1024
    let start = ProgressBar.seconds()
    let label = allowUncertified ? "transform backfill to u1 (allow_uncertified, shadow)" : "transform backfill to u1"
    return await refusable { () -> Double in
      let last = try await client.backfill(transform) { progress in
        var bar = ProgressBar()
        bar.update(label: label, done: Int(progress.done), total: Int(progress.total),
                   detail: ProgressBar.rate(progress, since: start), finished: progress.state != .running)
      }
      guard last?.state == .completed else { throw DemoRefusal(message: "the transform backfill ended \(String(describing: last?.state))") }
      return ProgressBar.seconds() - start
    }
  }

  /// `body`'s value, or the services' refusal (an RPC error) as a value.
  private func refusable<Value>(_ body: () async throws -> Value) async -> Result<Value, DemoRefusal> {
    do {
      return .success(try await body())
    } catch let error as RPCError {
      return .failure(DemoRefusal(message: "\(error.code): \(error.message)"))
    } catch let error as DemoRefusal {
      return .failure(error)
    } catch {
      return .failure(DemoRefusal(message: "\(error)"))
    }
  }

  /// Story 3's table and what it shows.
  func printIndependent(_ story: IndependentStory, u1: ModelVersion) {
    func pct(_ x: Double) -> String { String(format: "%5.1f", x * 100) }
    func row(_ label: String, _ result: Result<Quality, DemoRefusal>) -> String {
      switch result {
      case .success(let q): return "| \(label) | \(pct(q.top1))         | \(pct(q.top5)) |"
      case .failure: return "| \(label) | refused       |       |"
      }
    }
    let certificates = (u1.manifest.adapters ?? []).filter { $0.oldVersion == "v1" }.map { record in
      "  \(record.direction == "query" ? "query-adapted" : "transformed documents") (\(record.kind)): " + record.certificate.summary(newVersion: "u1")
    }
    let refusals = ([story.adapted, story.transformed].compactMap { result -> DemoRefusal? in
      if case .failure(let refusal) = result { return refusal }
      return nil
    } + [story.uncertifiedRefusal].compactMap { $0 }).map { "  refused: " + $0.message }
    let seconds = String(format: "%.2f", story.transformSeconds)
    let moved = switch (story.transformed, story.uncertifiedRefusal) {
    case (.success, nil):
      "The transform backfill moved \(story.documents) documents in \(seconds) s (no image re-read, no model run)"
    case (.success, .some):
      "The certificate refused the transform, so the demo moved the catalogue by T on the operator's word "
        + "(allow_uncertified: a shadow upgrade) in \(seconds) s (no image re-read, no model run), measured it, "
        + "and rolled it back within the grace period, as the certificate's validation figures decide"
    case (.failure, _):
      "The certificate refused the transform backfill, so the catalogue could move to u1 only by re-embedding"
    }
    print("""

      Story 3, two independent models: v1 (\(story.documents) documents indexed) and u1 (a CNN trained \
      on its own, another lineage: its embeddings have nothing in common with v1's).
      Adapters fitted by bct adapt on the training data, each mode certified on the validation split:
      \((certificates + refusals).joined(separator: "\n"))

      | step                                                   | service top-1 | top-5 |
      |--------------------------------------------------------|---------------|-------|
      | M(Q1,D1)    v1 queries on v1 documents                 | \(pct(story.before.top1))         | \(pct(story.before.top5)) |
      \(row("M(P(Q2),D1) u1 queries mapped by P, v1 documents      ", story.adapted))
      \(row(story.uncertifiedRefusal == nil
        ? "M(Q2,T(D1)) u1 queries, documents moved by T          " : "M(Q2,T(D1)) u1 queries, moved by T (uncertified)      ",
        story.transformed))
      | M(Q2,D2)    after re-embedding every document with u1  | \(pct(story.reembedded.top1))         | \(pct(story.reembedded.top5)) |

      \(moved); re-embedding them with u1 took \(String(format: "%.1f", story.reembedSeconds)) s.
      """)
  }
}
