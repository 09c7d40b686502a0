import BCTData
import BCTEvaluation
import BCTModel
import BCTModelRepository
import BCTNumerics
import BCTTraining
import Foundation

/// Trains every scenario x seed x method (plus the independent new* of each new
/// generation) and measures every old -> new pair on the validation split and on
/// the test split. Models are cached in `directory`, so an interrupted run resumes.
public struct ScenarioMatrix: Sendable {
  public var scenarios: [Scenario]
  public var methods: [StudyMethod]
  public var seeds: [UInt64]
  public var epochs: Int
  /// Epochs for CNN generations (they cost ~30x an MLP epoch on 2 cores).
  public var cnnEpochs: Int
  public var validationFraction = 0.1
  public var validationSeed: UInt64 = 0
  public var marginPoints = CompatibilityCertifier.defaultMarginPoints
  /// How each pair's certificate is computed, and the settings it is judged under.
  public var certification = CertificationStudy()
  /// Where trained models are kept (and reused from).
  public var directory: URL

  public init(
    scenarios: [Scenario], methods: [StudyMethod], seeds: [UInt64], epochs: Int, cnnEpochs: Int, directory: URL
  ) {
    self.scenarios = scenarios
    self.methods = methods
    self.seeds = seeds
    self.epochs = epochs
    self.cnnEpochs = cnnEpochs
    self.directory = directory
  }

  /// Runs the study on `trainSplit` (the validation split is carved from it) and
  /// `test`, reporting each trained model and finished pair through `log`.
  public func run(trainSplit: Dataset, test: Dataset, log: (String) -> Void) throws -> MatrixReport {
    let (train, validation) = trainSplit.validationSplit(fraction: validationFraction, seed: validationSeed)
    guard validation.count > 1 else { throw ModelError("the study needs a validation split; raise the validation fraction") }
    var cells: [MatrixCell] = []
    var certifications: [PairCertification] = []
    var evaluator = Evaluator(splits: ["validation": validation, "test": test])
    let source = TrainingSource(train: train, name: trainSplit.name, validationExamples: validation.count)
    for scenario in scenarios {
      for seed in seeds {
        func model(_ generation: Int, _ method: StudyMethod?, _ old: ModelVersion?) throws -> ModelVersion {
          try self.model(scenario, seed: seed, generation: generation, method: method, old: old, source: source, log: log)
        }
        let root = try model(0, nil, nil)
        var independents: [Int: ModelVersion] = [:]
        for generation in 1..<scenario.generations.count {
          independents[generation] = try model(generation, nil, nil)
        }
        for method in methods {
          var chain = [root]
          for generation in 1..<scenario.generations.count {
            chain.append(try model(generation, method, chain[generation - 1]))
          }
          for newIndex in 1..<chain.count {
            for oldIndex in 0..<newIndex {
              let pair = PairCertification.Pair(
                scenario: scenario.id, seed: seed, method: method.name, old: "g\(oldIndex + 1)", new: "g\(newIndex + 1)")
              let models = (old: chain[oldIndex], new: chain[newIndex], star: independents[newIndex]!)
              cells += Self.cells(pair, models: models, classes: scenario.generations[newIndex].classes, evaluator: &evaluator)
              certifications.append(
                certify(pair, models: models, classes: scenario.generations[newIndex].classes, evaluator: &evaluator))
              log(MatrixReport.pairLine(cells.suffix(4), marginPoints: marginPoints) + "\n    " + certifications[certifications.count - 1].line)
            }
          }
        }
      }
    }
    return MatrixReport(
      scenarios: scenarios, methods: methods, seeds: seeds, epochs: epochs, cnnEpochs: cnnEpochs,
      marginPoints: marginPoints, validationExamples: validation.count, testExamples: test.count, cells: cells,
      certification: certification, certifications: certifications)
  }

  /// The training data of a study: the training split less validation.
  struct TrainingSource {
    var train: Dataset
    var name: String
    var validationExamples: Int
  }

  /// The pair's four cells per split (top-1 and mAP) with old/old, cross, new/new and new*/new*.
  private static func cells(
    _ pair: PairCertification.Pair, models: (old: ModelVersion, new: ModelVersion, star: ModelVersion), classes: [Int]?, evaluator: inout Evaluator
  ) -> [MatrixCell] {
    var cells: [MatrixCell] = []
    for split in ["validation", "test"] {
      let oo = evaluator.scores(models.old, models.old, split: split, classes: classes)
      let no = evaluator.scores(models.new, models.old, split: split, classes: classes)
      let nn = evaluator.scores(models.new, models.new, split: split, classes: classes)
      let ss = evaluator.scores(models.star, models.star, split: split, classes: classes)
      for (metric, pick) in [("top-1", \RetrievalScores.top1), ("mAP", \RetrievalScores.meanAveragePrecision)] {
        cells.append(MatrixCell(
          scenario: pair.scenario, seed: pair.seed, method: pair.method, old: pair.old,
          new: pair.new, split: split, metric: metric, q1d1: oo[keyPath: pick],
          q2d1: no[keyPath: pick], q2d2: nn[keyPath: pick], newStar: ss[keyPath: pick]))
      }
    }
    return cells
  }

  /// The pair's certificates, measured on validation embeddings and projected to the test split's size.
  private func certify(
    _ pair: PairCertification.Pair, models: (old: ModelVersion, new: ModelVersion, star: ModelVersion), classes: [Int]?, evaluator: inout Evaluator
  ) -> PairCertification {
    let (oldVal, labels) = evaluator.embedded(models.old, split: "validation", classes: classes)
    let (newVal, _) = evaluator.embedded(models.new, split: "validation", classes: classes)
    return certification.certify(
      old: oldVal, new: newVal, labels: labels, testExamples: evaluator.count(split: "test", classes: classes), pair: pair)
  }

  /// Generation `generation` of `scenario` (with `method` against `old`, or
  /// independent), loaded from the study's folder when trained before with the
  /// same epochs and architecture, trained and saved otherwise.
  func model(
    _ scenario: Scenario, seed: UInt64, generation: Int, method: StudyMethod?, old: ModelVersion?, source: TrainingSource,
    log: (String) -> Void
  ) throws -> ModelVersion {
    let name = "g\(generation + 1)" + (generation == 0 ? "" : "-\(method?.name ?? "independent")")
    let path = directory.appendingPathComponent("\(scenario.id)/seed\(seed)").appendingPathComponent(name)
    let spec = scenario.generations[generation]
    let epochs = spec.architecture == "cnn" ? cnnEpochs : self.epochs
    if let cached = try? ModelVersion.load(from: path), cached.manifest.training.epochs == epochs,
       cached.manifest.architecture.name == spec.architecture {
      return cached
    }
    var config = TrainingConfiguration()
    config.architecture = try Architecture(name: spec.architecture, parameters: spec.parameters)
    config.epochs = epochs
    config.seed = seed &* 1000 &+ UInt64(generation)
    config.compatibility = .none
    method?.configure(&config)
    var data = source.train
    if let classes = spec.classes { data = data.keepingClasses(Set(classes)) }
    data = data.fraction(spec.fraction, seed: 0)
    let started = Date()
    let trained = try Trainer(configuration: config).train(
      on: data, old: old,
      run: .init(version: name, dataset: source.name, classes: spec.classes, fraction: spec.fraction,
                 validation: .init(fraction: validationFraction, seed: validationSeed, examples: source.validationExamples)))
    try trained.save(to: path)
    log(String(format: "trained %@ %@ seed %llu (%@, %d examples) in %.1f s", scenario.id, name, seed, spec.label, data.count, Date().timeIntervalSince(started)))
    return trained
  }

  /// `report` with every pair's certificate measured again from the cached models
  /// (the cells, trained models and test figures stay): how a changed certificate
  /// does on the same matrix.
  public func recertify(_ report: MatrixReport, trainSplit: Dataset, test: Dataset, log: (String) -> Void) throws -> MatrixReport {
    let validation = trainSplit.validationSplit(fraction: validationFraction, seed: validationSeed).validation
    var evaluator = Evaluator(splits: ["validation": validation, "test": test])
    var updated = report
    updated.certification = certification
    updated.certifications = []
    for record in report.certifications {
      let pair = record.pair
      guard let scenario = report.scenarios.first(where: { $0.id == pair.scenario }),
            let newIndex = Int(pair.new.dropFirst()).map({ $0 - 1 }), let oldIndex = Int(pair.old.dropFirst()).map({ $0 - 1 })
      else { continue }
      let folder = directory.appendingPathComponent("\(pair.scenario)/seed\(pair.seed)")
      func name(_ generation: Int) -> String { generation == 0 ? "g1" : "g\(generation + 1)-\(pair.method)" }
      let old = try ModelVersion.load(from: folder.appendingPathComponent(name(oldIndex)))
      let new = try ModelVersion.load(from: folder.appendingPathComponent(name(newIndex)))
      let classes = scenario.generations[newIndex].classes
      let (oldVal, labels) = evaluator.embedded(old, split: "validation", classes: classes)
      let (newVal, _) = evaluator.embedded(new, split: "validation", classes: classes)
      updated.certifications.append(certification.certify(
        old: oldVal, new: newVal, labels: labels, testExamples: evaluator.count(split: "test", classes: classes), pair: pair))
      log("  \(pair.method) \(pair.label): " + updated.certifications[updated.certifications.count - 1].line)
    }
    return updated
  }
}
