import ArgumentParser
import BCTCompatibilityStudy
import BCTNumerics
import Foundation

/// `bct compat-matrix`: the scenario matrix of upgrades x seeds x compatibility methods.
struct CompatMatrix: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compat-matrix",
    abstract: "Train and measure upgrade scenarios x seeds x compatibility methods on validation and test.",
    discussion: """
      Scenarios: (a) architecture upgrade MLP 50% -> CNN 100%, (b) data refresh MLP \
      50% -> 100%, (c) capacity MLP 256,128 -> 1024,512, (d) new classes 0-4 -> all 10, \
      (e) three generations. Each new generation is also trained without a \
      compatibility term (new*). Every pair prints Q1D1, Q2D1, Q2D2, new*, the \
      normalised gain G and the new/new cost, on the validation split (carved from \
      the training data, never trained on) and on the test split; the summary picks \
      a method on validation only. Quick mode: MLP scenarios b-e. Trained models \
      are kept in --out and reused, so a run resumes where it stopped.
      """)

  @Option(help: "quick (MLP scenarios b-e) or full (a-e, CNN included).") var mode: String = "quick"
  @Option(help: "Comma-separated seeds.") var seeds: String = "0,1,2"
  @Option(help: "Comma-separated methods (default: all): \(StudyMethod.all.map(\.name).joined(separator: ", ")).")
  var methods: String?
  @Option(help: "Comma-separated scenario ids to run (default: all of the mode).") var scenarios: String?
  @Option(help: "Epochs per MLP generation (default: 3 quick, 5 full).") var epochs: Int?
  @Option(help: "Epochs per CNN generation.") var cnnEpochs: Int = 5
  @Option(help: "Folder for the trained models (reused on the next run).") var out: String = "models/compat-matrix"
  @Option(help: "Also write the whole report as JSON to this file.") var json: String?
  @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?
  @Option(help: "Instead of running: merge the --json reports of earlier runs (comma-separated files, e.g. one per scenario) and print the combined report.")
  var merge: String?
  @Option(help: "Instead of training: measure every pair's certificate again from the models cached in --out, keeping the cells of this earlier --json report.")
  var recertify: String?
  @Option(help: "Instead of training objectives: study the adapter modes (query adapter, transformed documents) on these bases: independent (no compatibility training) and/or method names. Scenarios: b-e and f (cross-lineage MLP -> CNN).")
  var adapters: String?
  @OptionGroup var data: DataOptions

  func validate() throws {
    guard ["quick", "full"].contains(mode) else { throw ValidationError("--mode must be quick or full") }
    guard !seedList.isEmpty else { throw ValidationError("--seeds must list at least one non-negative integer") }
    if let epochs, epochs <= 0 { throw ValidationError("--epochs must be positive") }
    guard cnnEpochs > 0 else { throw ValidationError("--cnn-epochs must be positive") }
    for name in (adapters?.split(separator: ",").map(String.init) ?? []) where name != "independent" && StudyMethod.named(name) == nil {
      throw ValidationError("--adapters: unknown base \(name); independent or one of \(StudyMethod.all.map(\.name).joined(separator: ", "))")
    }
    for name in methodNames where StudyMethod.named(name) == nil {
      throw ValidationError("unknown method \(name); known: \(StudyMethod.all.map(\.name).joined(separator: ", "))")
    }
  }

  var seedList: [UInt64] { seeds.split(separator: ",").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) } }
  var methodNames: [String] { methods.map { $0.split(separator: ",").map(String.init) } ?? StudyMethod.all.map(\.name) }

  func run() async throws {
    if let merge {
      let reports = try merge.split(separator: ",").map { file in
        try JSONDecoder().decode(MatrixReport.self, from: Data(contentsOf: URL(fileURLWithPath: String(file))))
      }
      guard let combined = MatrixReport.merging(reports) else {
        throw ValidationError("--merge: the reports differ in seeds, epochs, splits or certification settings")
      }
      print(combined.rendered())
      try writeJSON(combined)
      return
    }
    AllocatorTuning.retainLargeBuffers()
    if let threads { BLAS.setThreadCount(threads) }
    if let recertify {
      let earlier = try JSONDecoder().decode(MatrixReport.self, from: Data(contentsOf: URL(fileURLWithPath: recertify)))
      let matrix = ScenarioMatrix(
        scenarios: earlier.scenarios, methods: earlier.methods, seeds: earlier.seeds, epochs: earlier.epochs,
        cnnEpochs: earlier.cnnEpochs, directory: URL(fileURLWithPath: out))
      let report = try matrix.recertify(earlier, trainSplit: try data.source.load(.train), test: try data.source.load(.test)) { line in
        ProgressBar.write(line + "\n")
      }
      print(report.rendered())
      try writeJSON(report)
      return
    }
    var chosen = adapters != nil ? Scenario.adapterStudy : mode == "quick" ? Scenario.quick : Scenario.full
    if let scenarios {
      let ids = Set(scenarios.split(separator: ",").map(String.init))
      chosen = chosen.filter { ids.contains($0.id) }
      guard !chosen.isEmpty else { throw ValidationError("--scenarios \(scenarios) names none of this mode's scenarios") }
    }
    let matrix = ScenarioMatrix(
      scenarios: chosen, methods: methodNames.compactMap(StudyMethod.named), seeds: seedList,
      epochs: epochs ?? (mode == "quick" ? 3 : 5), cnnEpochs: cnnEpochs, directory: URL(fileURLWithPath: out))
    let started = Date()
    if let adapters {
      let study = AdapterStudy(bases: adapters.split(separator: ",").map(String.init))
      let report = try study.run(matrix: matrix, trainSplit: try data.source.load(.train), test: try data.source.load(.test)) { line in
        ProgressBar.write(line + "\n")
      }
      print(report.rendered())
      print(String(format: "\n(%.0f s)", Date().timeIntervalSince(started)))
      try writeJSON(report)
      return
    }
    let report = try matrix.run(trainSplit: try data.source.load(.train), test: try data.source.load(.test)) { line in
      ProgressBar.write(line + "\n")
    }
    print(report.rendered())
    print(String(format: "\n(%.0f s)", Date().timeIntervalSince(started)))
    try writeJSON(report)
  }

  private func writeJSON(_ report: MatrixReport) throws {
    guard let json else { return }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    try encoder.encode(report).write(to: URL(fileURLWithPath: json))
  }
}
