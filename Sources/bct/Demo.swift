import BCTTensor
import ArgumentParser
import BCTClient
import BCTProcess
import BCTProto
import BCTData
import BCTEvaluation
import BCTModel
import BCTModelRepository
import BCTNumerics
import BCTTraining
import Foundation
import GRPCCore

/// `bct demo`: the end-to-end upgrade story on Fashion-MNIST.
struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the end-to-end upgrade story on the default data (Fashion-MNIST).",
    discussion: """
      Trains v1 (MLP on a fixed half of the training split), v2 (CNN on all of it, \
      trained against v1's frozen head) and v3 (a wide MLP trained against v2) into --models \
      unless they are there, certifies each against the older ones on the validation split, \
      and evaluates v1 and v2; then starts bct-encoder and bct-retrieval as child processes \
      on free loopback ports. Story 1, a certified upgrade: index the test split with v1, \
      search with v1 and v2 queries, backfill to v2 in place, search again. Story 2, an \
      uncertified upgrade: v3 queries on v2 documents are refused; a shadow backfill to v3 \
      leaves every search exactly as it was until one switch; then the team keeps v3 \
      (finalize) if it searches better than v2, or rolls back. Story 3, two independent \
      models: u1 (a CNN trained on its own, another lineage) is connected to v1 only \
      by the adapters bct adapt fits; on a second catalogue of v1 documents, u1 queries \
      search through the query adapter if its mode is certified, a transform backfill \
      moves the catalogue into u1's space if that mode is certified, and a re-embedding \
      backfill gives the figures to compare with. Prints the figures of all three.
      """)

  @Option(help: "Model repository folder.") var models: String = "models"
  @Option(help: "Training epochs for each version.") var epochs: Int = 5
  @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?
  @Option(help: "Test images to index and search with (default all).") var documents: Int = 10000
  @OptionGroup var data: DataOptions


  func run() async throws {
    AllocatorTuning.retainLargeBuffers()
    if let threads { BLAS.setThreadCount(threads) }
    let root = URL(fileURLWithPath: models)
    let v1 = try trainIfMissing(root.appendingPathComponent("v1"), old: nil) { config in
      config.architecture = .defaultMLP
    }
    let v2 = try trainIfMissing(root.appendingPathComponent("v2"), old: v1) { config in
      config.architecture = .defaultCNN
      config.seed = 1
    }
    let v3 = try trainIfMissing(root.appendingPathComponent("v3"), old: v2, lineage: [v1]) { config in
      config.architecture = .mlp(hidden: [1024, 512])
      config.seed = 2
    }
    let fullTest = try data.source.load(.test)
    let test = documents < fullTest.count ? fullTest.subset(Array(0..<max(1, documents)), name: fullTest.name) : fullTest
    ProgressBar.write("evaluating v1 and v2 on \(test.count) test examples...\n")
    let report = CompatibilityReport.evaluate(versions: [v1, v2], on: test)
    for (name, var version) in [("v1", v1), ("v2", v2)] {
      version.manifest.evaluations = report.records(for: version.version)
      try version.manifest.encoded().write(to: root.appendingPathComponent("\(name)/manifest.json"), options: .atomic)
    }
    guard let pair = report.criterion.pairs.first else { throw ValidationError("v2 is not compatible with v1") }
    // Keep v3 after the switch only if it beats v2 on the validation split (never decided on test figures).
    let keepV3 = v3.manifest.certificate(for: v2.version).map { $0.top1.newNew > $0.top1.oldOld && $0.meanAveragePrecision.newNew > $0.meanAveragePrecision.oldOld } ?? false
    // Story 1 searches v1 documents with v2 queries; if the certificate refuses the
    // pair, the demo says so and measures the mix with allow_uncertified instead.
    let v2Certified = v2.manifest.certifies(v1.manifest)
    let u1 = try await prepareIndependent(root: root)
    let (story, shadow, independent) = try await serviceStory(models: root, test: test, keepV3: keepV3, v2Certified: v2Certified)
    printSummary(report: report, pair: pair, story: story, shadow: shadow, versions: (v1, v2, v3), v2Certified: v2Certified)
    printIndependent(independent, u1: u1)
  }

  /// The two stories' tables and what they show.
  private func printSummary(
    report: CompatibilityReport, pair: CompatibilityReport.Pair, story: Story, shadow: ShadowStory,
    versions: (v1: ModelVersion, v2: ModelVersion, v3: ModelVersion), v2Certified: Bool
  ) {
    let (v1, v2, v3) = versions
    func pct(_ x: Double) -> String { String(format: "%5.1f", x * 100) }
    print("""

      The upgrade story on \(report.dataset): \(story.documents) test images indexed, each test image
      searched as a query (itself excluded); top-1 / top-5 from the services, top-1 / mAP from `bct eval`:

      | step                                          | service top-1 | top-5 | eval top-1 | mAP   |
      |-----------------------------------------------|---------------|-------|------------|-------|
      | M(Q1,D1)  index with v1, v1 queries           | \(pct(story.q1d1.top1))         | \(pct(story.q1d1.top5)) | \(pct(pair.top1[0]))      | \(pct(pair.mAP[0])) |
      | M(Q2,D1)  v2 queries, no re-indexing\(v2Certified ? "         " : " (forced)") | \(pct(story.q2d1.top1))         | \(pct(story.q2d1.top5)) | \(pct(pair.top1[1]))      | \(pct(pair.mAP[1])) |
      | M(Q2,D2)  after backfill to v2                | \(pct(story.q2d2.top1))         | \(pct(story.q2d2.top5)) | \(pct(pair.top1[2]))      | \(pct(pair.mAP[2])) |

      Indexing \(story.documents) documents with v1 took \(String(format: "%.1f", story.indexSeconds)) s; the backfill to v2 took \(String(format: "%.1f", story.backfillSeconds)) s, \
      while searches kept working.
      Compatibility criterion M(Q2,D2) > M(Q2,D1) > M(Q1,D1): \(pair.holds ? "holds" : "does NOT hold") in `bct eval`, \
      \(story.holds ? "holds" : "does NOT hold") through the services.
      \(v2Certified ? "" : "The certificate does NOT certify v2 against v1 for this catalogue, so the v2 search of v1 documents was forced with allow_uncertified and the backfill ran as a shadow upgrade.\n")v2 queries searched v1 documents without re-indexing: \(String(format: "%+.1f", (story.q2d1.top1 - story.q1d1.top1) * 100)) top-1 points over v1.
      Certificate (measured on the validation split, lower confidence bounds for a catalogue of \(documents) documents): \(v2.manifest.certificate(for: v1.version)?.summary(newVersion: v2.version) ?? "none (v2 was trained before certificates existed; bct eval --certify issues one)").

      Story 2, an upgrade the certificate refuses: v3 (\(v3.manifest.architecture.name), trained against v2's head).
      \(v3.manifest.certificates.map { "Certificate: " + $0.summary(newVersion: v3.version) }.joined(separator: "\n"))
      With v2 documents in the index, a v3 search is refused: \(shadow.refusal)

      | step                                                   | service top-1 | top-5 |
      |--------------------------------------------------------|---------------|-------|
      | M(Q2,D2)  before the upgrade                           | \(pct(shadow.before.top1))         | \(pct(shadow.before.top5)) |
      | M(Q3,D2)  what mixing would give (allow_uncertified)   | \(pct(shadow.mixed.top1))         | \(pct(shadow.mixed.top5)) |
      | M(Q3,D3)  after the shadow backfill and the switch     | \(pct(shadow.after.top1))         | \(pct(shadow.after.top5)) |

      The shadow backfill of \(story.documents) documents took \(String(format: "%.1f", shadow.fillSeconds)) s; \(shadow.searchesDuringFill) searches ran while it filled and \
      \(shadow.identicalDuringFill == shadow.searchesDuringFill ? "every one returned exactly the results from before" : "\(shadow.searchesDuringFill - shadow.identicalDuringFill) of them differed from before (a bug)").
      Memory while both copies were kept: \(shadow.memoryDuringGrace); after the \(shadow.kept ? "finalize" : "rollback"): \(shadow.memoryAfter).
      Decision, made on the validation split (v3's own figures vs v2's in its certificate), never on these test figures: \
      \(shadow.kept ? "v3 beats v2, so the upgrade was finalized" : "v3 does not beat v2, so the upgrade was rolled back within its grace period; searches returned exactly v2's results again: \(shadow.identicalAfterRollback ? "yes" : "NO")").
      """)
  }

  struct ShadowStory {
    var refusal: String
    var before: Quality
    var mixed: Quality
    var after: Quality
    var fillSeconds: Double
    var searchesDuringFill: Int
    var identicalDuringFill: Int
    var memoryDuringGrace: String
    var memoryAfter: String
    var kept: Bool
    var identicalAfterRollback: Bool
  }

  struct Quality { var top1: Double; var top5: Double }

  struct Story {
    var documents: Int
    var q1d1: Quality
    var q2d1: Quality
    var q2d2: Quality
    var indexSeconds: Double
    var backfillSeconds: Double
    var holds: Bool { q2d2.top1 > q2d1.top1 && q2d1.top1 > q1d1.top1 }
  }

  /// Starts both services as child processes, indexes the test split with v1,
  /// searches with v1 and v2 queries, backfills to v2, searches again, stops them.
  private func serviceStory(
    models: URL, test: Dataset, keepV3: Bool, v2Certified: Bool
  ) async throws -> (Story, ShadowStory, IndependentStory) {
    let data = FileManager.default.temporaryDirectory.appendingPathComponent("bct-demo-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: data) }
    ProgressBar.write("starting bct-encoder and bct-retrieval on free loopback ports...\n")
    let encoder = try await ServiceProcess(
      executable: try ServiceProcess.locate("bct-encoder"),
      arguments: ["--models", models.path, "--host", "127.0.0.1", "--port", "0", "--no-metrics"])
    let count = min(documents, test.count)
    let stories: (Story, ShadowStory, IndependentStory)
    do {
      let (story, shadow) = try await withRetrieval(encoder: encoder, data: data.appendingPathComponent("story-1-2")) { client in
        try await upgradeStories(client, test: test, count: count, keepV3: keepV3, v2Certified: v2Certified)
      }
      // Story 3 on a catalogue of its own (one catalogue per bct-retrieval).
      ProgressBar.write("starting a second bct-retrieval for story 3...\n")
      let independent = try await withRetrieval(encoder: encoder, data: data.appendingPathComponent("story-3")) { client in
        try await independentStory(client, test: test, count: count)
      }
      stories = (story, shadow, independent)
    } catch {
      await encoder.terminate()
      throw error
    }
    // The repository's default query version follows the decision, so services
    // started on it later do not default to a version the demo rolled back.
    let kept = stories.1.kept ? "v3" : "v2"
    try Data((kept + "\n").utf8).write(to: models.appendingPathComponent(ModelVersion.repositoryDefaultFile), options: .atomic)
    ProgressBar.write("\(models.path)/\(ModelVersion.repositoryDefaultFile) now names \(kept), the version the demo kept\n")
    let encoderExit = await encoder.terminate()
    ProgressBar.write("services stopped (encoder exit \(encoderExit.map(String.init) ?? "killed"))\n")
    return stories
  }

  /// Runs `body` against a bct-retrieval started on `data` over `encoder`, then stops it.
  private func withRetrieval<Value: Sendable>(
    encoder: ServiceProcess, data: URL, _ body: (RetrievalClient) async throws -> Value
  ) async throws -> Value {
    let retrieval = try await ServiceProcess(
      executable: try ServiceProcess.locate("bct-retrieval"),
      arguments: ["--encoder", "127.0.0.1:\(encoder.port)", "--data-dir", data.path, "--host", "127.0.0.1",
                  "--port", "0", "--no-metrics"])
    do {
      let value = try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: retrieval.port)) { connection in
        try await body(RetrievalClient(connection))
      }
      let exit = await retrieval.terminate()
      ProgressBar.write("bct-retrieval stopped (exit \(exit.map(String.init) ?? "killed"))\n")
      return value
    } catch {
      await retrieval.terminate()
      throw error
    }
  }

  /// Story 1 (v1 documents searched by v1 and v2 queries, then a backfill to v2)
  /// and story 2 (the shadow upgrade to v3) through `client`.
  private func upgradeStories(
    _ client: RetrievalClient, test: Dataset, count: Int, keepV3: Bool, v2Certified: Bool
  ) async throws -> (Story, ShadowStory) {
    let indexSeconds = try await index(client, test: test, count: count, version: "v1")
    let q1d1 = try await measure(client, test: test, count: count, version: "v1")
    let q2d1 = try await measure(client, test: test, count: count, version: "v2", allowUncertified: !v2Certified)
    let backfillStart = ProgressBar.seconds()
    var backfill = Bct_V1_BackfillRequest()
    backfill.targetVersion = "v2"
    backfill.batchSize = 256
    let last = try await client.backfill(backfill) { progress in
      var bar = ProgressBar()
      bar.update(label: "backfill to v2", done: Int(progress.done), total: Int(progress.total),
                 detail: ProgressBar.rate(progress, since: backfillStart), finished: progress.state != .running)
    }
    guard last?.state == .completed else {
      throw ValidationError("the backfill ended \(String(describing: last?.state)): \(last?.message ?? "")")
    }
    let backfillSeconds = ProgressBar.seconds() - backfillStart
    let q2d2 = try await measure(client, test: test, count: count, version: "v2")
    if !v2Certified {
      // An uncertified target ran as a shadow upgrade: keep it, ending its grace period.
      var finalize = Bct_V1_BackfillRequest()
      finalize.finalize = true
      _ = try await client.backfill(finalize)
    }
    let shadow = try await shadowStory(client, test: test, count: count, before: q2d2, keep: keepV3)
    return (Story(documents: count, q1d1: q1d1, q2d1: q2d1, q2d2: q2d2, indexSeconds: indexSeconds, backfillSeconds: backfillSeconds), shadow)
  }

  /// Indexes the first `count` test images with `version`; the seconds it took.
  func index(_ client: RetrievalClient, test: Dataset, count: Int, version: String) async throws -> Double {
    var bar = ProgressBar()
    let indexStart = ProgressBar.seconds()
    for offset in stride(from: 0, to: count, by: 500) {
      let end = min(count, offset + 500)
      var request = Bct_V1_UpsertRequest()
      request.modelVersion = version
      request.documents = (offset..<end).map { i in
        Bct_V1_Document(id: "test-\(i)", metadata: ["label": "\(test.labels[i])"], inputs: test.inputs, row: i, shape: test.sampleShape)
      }
      _ = try await client.upsert(request)
      bar.update(label: "indexing with \(version)", done: end, total: count, detail: "", finished: end == count)
    }
    return ProgressBar.seconds() - indexStart
  }

  /// Story 2 on the index of v2 documents: the refusal, what mixing would give, a
  /// shadow backfill to v3 with searches checked against the results from before,
  /// the switch, then finalize (`keep`, decided on validation figures) or rollback.
  private func shadowStory(_ client: RetrievalClient, test: Dataset, count: Int, before: Quality, keep kept: Bool) async throws -> ShadowStory {
    var probe = Bct_V1_SearchRequest()
    probe.inputs = Bct_V1_Tensor(batch: test.inputs.rows(0..<min(count, 256)), rowShape: test.sampleShape)
    probe.k = 10
    let refusal: String
    do {
      var request = probe
      request.queryModelVersion = "v3"
      _ = try await client.search(request)
      refusal = "NOT refused (v3 is certified against v2 after all; the upgrade will run in place)"
    } catch let error as RPCError {
      refusal = "\(error.code): \(error.message)"
    }
    let mixed = try await measure(client, test: test, count: count, version: "v3", allowUncertified: true)
    let baseline = try await client.search(probe).results.map { $0.hits.map(\.id) }
    let fillStart = ProgressBar.seconds()
    var backfill = Bct_V1_BackfillRequest()
    backfill.targetVersion = "v3"
    backfill.batchSize = 256
    backfill.maxDocumentsPerSecond = Double(count) / 4
    let job = Task {
      try await client.backfill(backfill) { progress in
        var bar = ProgressBar()
        bar.update(label: "shadow backfill to v3", done: Int(progress.done), total: Int(progress.total),
                   detail: ProgressBar.rate(progress, since: fillStart), finished: progress.state != .running)
      }
    }
    var (searches, identical) = (0, 0)
    while true {
      let response = try await client.search(probe)
      if response.queryModelVersion == "v3" { break }
      searches += 1
      if response.results.map({ $0.hits.map(\.id) }) == baseline { identical += 1 }
      try await Task.sleep(for: .milliseconds(100))
    }
    guard let last = try await job.value, last.state == .completed else { throw ValidationError("the shadow backfill did not complete") }
    let fillSeconds = ProgressBar.seconds() - fillStart
    let memory = { (s: Bct_V1_StatsResponse) in String(format: "embeddings %.1f MiB", Double(s.embeddingBytes) / 1048576) }
    let during = try await client.stats()
    let duringText = memory(during) + (during.hasShadow ? String(format: " (searched %.1f MiB + previous %.1f MiB)", Double(during.shadow.searchedEmbeddingBytes) / 1048576, Double(during.shadow.otherEmbeddingBytes) / 1048576) : "")
    let after = try await measure(client, test: test, count: count, version: "v3")
    var closing = Bct_V1_BackfillRequest()
    if kept { closing.finalize = true } else { closing.rollback = true }
    _ = try await client.backfill(closing)
    let identicalAfterRollback = kept ? false : try await client.search(probe).results.map { $0.hits.map(\.id) } == baseline
    return ShadowStory(
      refusal: refusal, before: before, mixed: mixed, after: after, fillSeconds: fillSeconds, searchesDuringFill: searches,
      identicalDuringFill: identical, memoryDuringGrace: duringText, memoryAfter: memory(try await client.stats()), kept: kept,
      identicalAfterRollback: identicalAfterRollback)
  }

  /// Top-1 and top-5 of every indexed test image searched with `version` (itself excluded).
  func measure(_ client: RetrievalClient, test: Dataset, count: Int, version: String, allowUncertified: Bool = false) async throws -> Quality {
    var (top1, top5) = (0, 0)
    var bar = ProgressBar()
    for offset in stride(from: 0, to: count, by: 256) {
      let end = min(count, offset + 256)
      var request = Bct_V1_SearchRequest()
      request.inputs = Bct_V1_Tensor(batch: test.inputs.rows(offset..<end), rowShape: test.sampleShape)
      request.k = 6
      request.queryModelVersion = version
      request.allowUncertified = allowUncertified
      let response = try await client.search(request, timeout: .seconds(120))
      for (r, result) in response.results.enumerated() {
        let q = offset + r
        let labels = result.hits.filter { $0.id != "test-\(q)" }.prefix(5).map { $0.metadata["label"] }
        if labels.first == "\(test.labels[q])" { top1 += 1 }
        if labels.contains("\(test.labels[q])") { top5 += 1 }
      }
      bar.update(label: "searching with \(version) queries", done: end, total: count, detail: "", finished: end == count)
    }
    return Quality(top1: Double(top1) / Double(count), top5: Double(top5) / Double(count))
  }

  /// Loads the version in `folder`, or trains and saves it there.
  func trainIfMissing(
    _ folder: URL, old: ModelVersion?, lineage: [ModelVersion] = [], fraction: Double? = nil,
    configure: (inout TrainingConfiguration) -> Void
  ) throws -> ModelVersion {
    if FileManager.default.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) {
      var model = try ModelVersion.load(from: folder)
      ProgressBar.write("using \(model.version) from \(folder.path)\n")
      let stale = model.manifest.certificates.contains { $0.bounds?.catalogueSize != documents }
      if let old, stale || model.manifest.certificates.isEmpty {
        // Certificates from before bounds, or for another catalogue: issue them again.
        model = try certifiedOnValidation(model, against: lineage + [old])
        try model.manifest.encoded().write(to: folder.appendingPathComponent("manifest.json"), options: .atomic)
      }
      return model
    }
    var config = TrainingConfiguration()
    config.epochs = epochs
    configure(&config)
    let (trainPart, validation) = try data.source.load(.train).validationSplit(fraction: 0.1, seed: 0)
    let fraction = fraction ?? (old == nil ? 0.5 : 1.0)
    let train = trainPart.fraction(fraction, seed: 0)
    let name = folder.lastPathComponent
    ProgressBar.write("training \(name): \(config.architecture.name) on \(train.count) examples\(old.map { ", compatible with \($0.version) (\(config.compatibility.rawValue))" } ?? "")\n")
    var bar = ProgressBar()
    var model = try Trainer(configuration: config).train(
      on: train, old: old,
      run: .init(version: name, dataset: data.source.name, classes: nil, fraction: fraction,
                 validation: .init(fraction: 0.1, seed: 0, examples: validation.count))
    ) { bar.show($0) }
    if let old { model = try certifiedOnValidation(model, against: lineage + [old]) }
    try model.save(to: folder)
    return model
  }

  /// `model` certified against `olds` on the demo's validation split, for a
  /// catalogue of the test documents the demo indexes.
  private func certifiedOnValidation(_ model: ModelVersion, against olds: [ModelVersion]) throws -> ModelVersion {
    let validation = try data.source.load(.train).validationSplit(fraction: 0.1, seed: 0).validation
    let (certified, certificates) = CompatibilityCertifier.certified(
      model, against: olds, on: validation,
      split: CompatibilityCertifier.validationSplitDescription(fraction: 0.1, seed: 0),
      settings: .init(catalogueSize: documents))
    for certificate in certificates { ProgressBar.write(certificate.summary(newVersion: model.version) + "\n") }
    return certified
  }
}
