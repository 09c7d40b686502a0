import ArgumentParser
import BCTData
import BCTEvaluation
import BCTModel
import BCTModelRepository
import BCTNumerics
import BCTTraining
import Foundation

/// `bct demo`: the end-to-end upgrade story on Fashion-MNIST.
struct Demo: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Run the end-to-end upgrade story on the default data (Fashion-MNIST).",
    discussion: """
      Trains v1 (MLP on a fixed half of the training split) and v2 (CNN on all of it, \
      trained against v1's frozen head) into --models unless they are there, then \
      measures M(Q1,D1), M(Q2,D1) and M(Q2,D2) on the test split.
      """)

  @Option(help: "Model repository folder.") var models: String = "models"
  @Option(help: "Training epochs for each version.") var epochs: Int = 5
  @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?
  @OptionGroup var data: DataOptions

  /// Stages that need the services; they run once those land.
  static let serviceStages = [
    "start bct-encoder and bct-retrieval on free loopback ports",
    "index the test split with v1, search with v1 and with v2 queries",
    "backfill the index to v2, search again, report the backfill time",
  ]

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
    let test = try data.source.load(.test)
    ProgressBar.write("evaluating v1 and v2 on \(test.count) test examples...\n")
    let report = CompatibilityReport.evaluate(versions: [v1, v2], on: test)
    for (name, var version) in [("v1", v1), ("v2", v2)] {
      version.manifest.evaluations = report.records(for: version.version)
      try version.manifest.encoded().write(to: root.appendingPathComponent("\(name)/manifest.json"), options: .atomic)
    }
    guard let pair = report.criterion.pairs.first else { throw ValidationError("v2 is not compatible with v1") }
    func pct(_ x: Double) -> String { String(format: "%5.1f", x * 100) }
    print("""

      The upgrade story on \(report.dataset) (test split as queries and gallery):

      | step                                   | top-1 | mAP   |
      |----------------------------------------|-------|-------|
      | M(Q1,D1)  v1 queries, v1 documents     | \(pct(pair.top1[0])) | \(pct(pair.mAP[0])) |
      | M(Q2,D1)  v2 queries, v1 documents     | \(pct(pair.top1[1])) | \(pct(pair.mAP[1])) |
      | M(Q2,D2)  v2 queries, v2 documents     | \(pct(pair.top1[2])) | \(pct(pair.mAP[2])) |

      Compatibility criterion M(Q2,D2) > M(Q2,D1) > M(Q1,D1): \(pair.holds ? "holds" : "does NOT hold").
      v2 queries search v1 documents without re-indexing: \(String(format: "%+.1f", (pair.top1[1] - pair.top1[0]) * 100)) top-1 points over v1.

      Still to come with the services: \(Self.serviceStages.joined(separator: "; ")).
      """)
  }

  /// Loads the version in `folder`, or trains and saves it there.
  private func trainIfMissing(
    _ folder: URL, old: ModelVersion?, configure: (inout TrainingConfiguration) -> Void
  ) throws -> ModelVersion {
    if FileManager.default.fileExists(atPath: folder.appendingPathComponent("manifest.json").path) {
      let model = try ModelVersion.load(from: folder)
      ProgressBar.write("using \(model.version) from \(folder.path)\n")
      return model
    }
    var config = TrainingConfiguration()
    config.epochs = epochs
    configure(&config)
    var train = try data.source.load(.train)
    let fraction = old == nil ? 0.5 : 1.0
    train = train.fraction(fraction, seed: 0)
    let name = folder.lastPathComponent
    ProgressBar.write("training \(name): \(config.architecture.name) on \(train.count) examples\(old.map { ", compatible with \($0.version) (\(config.compatibility.rawValue))" } ?? "")\n")
    var bar = ProgressBar()
    let model = try Trainer(configuration: config).train(
      on: train, old: old, run: .init(version: name, dataset: data.source.name, classes: nil, fraction: fraction)
    ) { bar.show($0) }
    try model.save(to: folder)
    return model
  }
}
