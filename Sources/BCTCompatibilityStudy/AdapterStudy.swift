import BCTAdapterFitting
import BCTAdapters
import BCTData
import BCTEvaluation
import BCTModel
import BCTModelRepository
import BCTNumerics
import Foundation

/// The adapter modes as methods of the scenario matrix: for each scenario x seed
/// and each base (the new generation trained without any compatibility term,
/// "independent", or with one of the study's objectives), both adapters are fitted
/// on the study's training data (less validation), chosen on a selection split
/// carved from it, and measured like any method: cells on validation and test with
/// G against new*, and the bounded certificate of the mode on validation.
public struct AdapterStudy: Sendable {
  /// "independent" and/or study method names whose generations are adapted.
  public var bases: [String]
  public var directions: [AdapterDirection] = [.query, .document]
  public var kinds: [AdapterKind] = AdapterKind.allCases

  public init(bases: [String]) {
    self.bases = bases
  }

  /// The method name of a base and direction, e.g. "independent+transform".
  public static func methodName(base: String, direction: AdapterDirection) -> String {
    base + (direction == .query ? "+query" : "+transform")
  }

  /// Every adapter method name, in report order.
  public var methodNames: [String] {
    bases.flatMap { base in directions.map { Self.methodName(base: base, direction: $0) } }
  }

  /// Runs the study over `matrix`'s scenarios and seeds (training or loading the
  /// generations it needs from the matrix's folder).
  public func run(matrix: ScenarioMatrix, trainSplit: Dataset, test: Dataset, log: (String) -> Void) throws -> MatrixReport {
    let (train, validation) = trainSplit.validationSplit(fraction: matrix.validationFraction, seed: matrix.validationSeed)
    var evaluator = Evaluator(splits: ["train": train, "validation": validation, "test": test])
    let source = ScenarioMatrix.TrainingSource(train: train, name: trainSplit.name, validationExamples: validation.count)
    var cells: [MatrixCell] = []
    var certifications: [PairCertification] = []
    for scenario in matrix.scenarios {
      for seed in matrix.seeds {
        let (independent, chains) = try self.chains(matrix, scenario: scenario, seed: seed, source: source, log: log)
        for (base, chain) in chains {
          for newIndex in 1..<chain.count {
            for oldIndex in 0..<newIndex {
              let models = (old: chain[oldIndex], new: chain[newIndex], star: independent[newIndex])
              for direction in directions {
                let pair = PairCertification.Pair(
                  scenario: scenario.id, seed: seed, method: Self.methodName(base: base, direction: direction),
                  old: "g\(oldIndex + 1)", new: "g\(newIndex + 1)")
                let measured = try measure(
                  pair, direction: direction, models: models, classes: scenario.generations[newIndex].classes,
                  evaluator: &evaluator, certification: matrix.certification)
                cells += measured.cells
                certifications.append(measured.certification)
                log(MatrixReport.pairLine(cells.suffix(4), marginPoints: matrix.marginPoints) + " [\(measured.kind)]\n    "
                  + measured.certification.line)
              }
            }
          }
        }
      }
    }
    var report = MatrixReport(
      scenarios: matrix.scenarios, methods: [], seeds: matrix.seeds, epochs: matrix.epochs, cnnEpochs: matrix.cnnEpochs,
      marginPoints: matrix.marginPoints, validationExamples: validation.count, testExamples: test.count, cells: cells,
      certification: matrix.certification, certifications: certifications)
    report.adapterMethods = methodNames
    return report
  }

  /// The independent generations (new* of every base), and each base's generations, oldest first.
  private func chains(
    _ matrix: ScenarioMatrix, scenario: Scenario, seed: UInt64, source: ScenarioMatrix.TrainingSource, log: (String) -> Void
  ) throws -> (independent: [ModelVersion], chains: [(base: String, chain: [ModelVersion])]) {
    let root = try matrix.model(scenario, seed: seed, generation: 0, method: nil, old: nil, source: source, log: log)
    var independent = [root]
    for generation in 1..<scenario.generations.count {
      independent.append(try matrix.model(scenario, seed: seed, generation: generation, method: nil, old: nil, source: source, log: log))
    }
    var chains: [(base: String, chain: [ModelVersion])] = []
    for base in bases {
      if base == "independent" {
        chains.append((base, independent))
        continue
      }
      guard let method = StudyMethod.named(base) else { throw ModelError("unknown base method \(base)") }
      var chain = [root]
      for generation in 1..<scenario.generations.count {
        chain.append(try matrix.model(
          scenario, seed: seed, generation: generation, method: method, old: chain[generation - 1], source: source, log: log))
      }
      chains.append((base, chain))
    }
    return (independent, chains)
  }

  /// One pair and direction: the adapter fitted on the training split, the four
  /// cells (validation and test, top-1 and mAP), and the mode's certificate.
  private func measure(
    _ pair: PairCertification.Pair, direction: AdapterDirection,
    models: (old: ModelVersion, new: ModelVersion, star: ModelVersion), classes: [Int]?, evaluator: inout Evaluator,
    certification: CertificationStudy
  ) throws -> (cells: [MatrixCell], certification: PairCertification, kind: String) {
    let (oldTrain, labels) = evaluator.embedded(models.old, split: "train", classes: nil)
    let (newTrain, _) = evaluator.embedded(models.new, split: "train", classes: nil)
    let selection = AdapterSelection(kinds: kinds, seed: pair.seed)
    guard let outcome = selection.fit(direction: direction, old: oldTrain, new: newTrain, labels: labels) else {
      throw ModelError("no adapter kind could be fitted for \(pair.method) \(pair.label)")
    }
    var cells: [MatrixCell] = []
    var validationCross: (queries: Matrix, gallery: Matrix)?
    var validationData: (old: Matrix, new: Matrix, labels: [Int])?
    for split in ["validation", "test"] {
      let (old, splitLabels) = evaluator.embedded(models.old, split: split, classes: classes)
      let (new, _) = evaluator.embedded(models.new, split: split, classes: classes)
      let cross = direction.crossSearch(outcome.adapter, old: old, new: new)
      if split == "validation" { (validationCross, validationData) = (cross, (old, new, splitLabels)) }
      func score(_ q: Matrix, _ g: Matrix) -> RetrievalScores {
        RetrievalMetrics.evaluate(queries: q, queryLabels: splitLabels, gallery: g, galleryLabels: splitLabels, excludeSelf: true)
      }
      let (oo, no, nn) = (score(old, old), score(cross.queries, cross.gallery), score(new, new))
      let ss = evaluator.scores(models.star, models.star, split: split, classes: classes)
      for (metric, pick) in [("top-1", \RetrievalScores.top1), ("mAP", \RetrievalScores.meanAveragePrecision)] {
        cells.append(MatrixCell(
          scenario: pair.scenario, seed: pair.seed, method: pair.method, old: pair.old, new: pair.new, split: split,
          metric: metric, q1d1: oo[keyPath: pick], q2d1: no[keyPath: pick], q2d2: nn[keyPath: pick],
          newStar: ss[keyPath: pick]))
      }
    }
    let data = validationData!
    let record = certification.certify(
      old: data.old, new: data.new, labels: data.labels, testExamples: evaluator.count(split: "test", classes: classes),
      pair: pair, cross: validationCross)
    return (cells, record, "\(outcome.chosen.kind) \(outcome.chosen.setting)")
  }
}
