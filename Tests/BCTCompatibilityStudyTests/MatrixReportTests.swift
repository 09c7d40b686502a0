import BCTCompatibilityStudy
import BCTData
import BCTModelRepository
import BCTNumerics
import Foundation
import Testing

@Suite("Scenario matrix")
struct MatrixReportTests {
  static func cells(method: String, seed: UInt64, val: (Double, Double, Double, Double), test: (Double, Double, Double, Double)) -> [MatrixCell] {
    var out: [MatrixCell] = []
    for (split, f) in [("validation", val), ("test", test)] {
      for metric in ["top-1", "mAP"] {
        out.append(MatrixCell(
          scenario: "b", seed: seed, method: method, old: "g1", new: "g2", split: split, metric: metric,
          q1d1: f.0, q2d1: f.1, q2d2: f.2, newStar: f.3))
      }
    }
    return out
  }

  @Test("G, cost, eligibility and the strict criterion, by hand")
  func cellFigures() {
    let cell = MatrixCell(scenario: "b", seed: 0, method: "m", old: "g1", new: "g2", split: "test", metric: "top-1",
                          q1d1: 0.80, q2d1: 0.83, q2d2: 0.84, newStar: 0.85)
    #expect(abs(cell.gain! - 0.6) < 1e-9 && abs(cell.costPoints - 1) < 1e-9 && cell.eligible && cell.holds)
    let flat = MatrixCell(scenario: "b", seed: 0, method: "m", old: "g1", new: "g2", split: "test", metric: "top-1",
                          q1d1: 0.80, q2d1: 0.80, q2d2: 0.815, newStar: 0.815)
    #expect(!flat.eligible && !flat.holds && flat.gain == 0)
    let worse = MatrixCell(scenario: "b", seed: 0, method: "m", old: "g1", new: "g2", split: "test", metric: "top-1",
                           q1d1: 0.80, q2d1: 0.81, q2d2: 0.82, newStar: 0.79)
    #expect(worse.gain == nil, "G is undefined when new* does not beat the old model")
  }

  @Test("summary: medians over eligible cells, certificates judged on validation and checked on test")
  func summary() {
    // Seed 0: certified on validation (every step > 0.5 point) and holds on test.
    // Seed 1: certified on validation but fails on test (a false certificate).
    // Seed 2: not certified on validation (cross gain 0.3 point), holds on test.
    let cells = Self.cells(method: "m", seed: 0, val: (0.80, 0.83, 0.84, 0.85), test: (0.80, 0.82, 0.84, 0.85))
      + Self.cells(method: "m", seed: 1, val: (0.80, 0.82, 0.84, 0.85), test: (0.80, 0.79, 0.84, 0.85))
      + Self.cells(method: "m", seed: 2, val: (0.80, 0.803, 0.84, 0.85), test: (0.80, 0.81, 0.84, 0.85))
    let report = MatrixReport(
      scenarios: [Scenario.dataRefresh], methods: [StudyMethod.named("ract")!].map { var m = $0; m.name = "m"; return m },
      seeds: [0, 1, 2], epochs: 1, cnnEpochs: 1, marginPoints: 0.5, validationExamples: 10, testExamples: 10,
      cells: cells)
    let s = report.summaries[0]
    #expect(s.certified == 2 && s.pairs == 3)
    #expect(s.falseCertificates == ["b seed 1 g1->g2"])
    #expect(s.eligible["test"] == 6 && s.holding["test"] == 4)
    // Test top-1 gains: 0.4, -0.2, 0.2 -> median 0.2.
    #expect(abs(s.medianGain["test/top-1"]! - 0.2) < 1e-9)
    #expect(abs(s.medianCostPoints["test/mAP"]! - 1) < 1e-9)
    #expect(report.rendered().contains("point-rule certified"))
    #expect(report.bestOnValidation == "m")
  }

  @Test("bounded certificates: defaults chosen on the validation side only, false certificates and power on test")
  func certificateChoice() {
    func verdicts(_ certified: Set<String>) -> [PairCertification.Verdict] {
      [0.9, 0.95].flatMap { c in [0.0, 0.5].map { m in
        PairCertification.Verdict(confidence: c, marginPoints: m, certified: certified.contains("\(c)/\(m)"))
      } }
    }
    func record(_ method: String, seed: UInt64, whole: Set<String>, half: Set<String>, halfGains: [Double]) -> PairCertification {
      PairCertification(
        pair: .init(scenario: "b", seed: seed, method: method, old: "g1", new: "g2"),
        bounds: CertificateBounds(method: "m", resamples: 1, confidence: 0.95, seed: 0, catalogueSize: 10, steps: [], galleryCurve: []),
        verdicts: verdicts(whole), halfVerdicts: verdicts(half), halfCheckGains: halfGains)
    }
    // hybrid seed 0 holds everywhere by 2+ points; m seed 1 fails its half-B cross step and, on test, the criterion.
    let cells = Self.cells(method: "hybrid", seed: 0, val: (0.80, 0.83, 0.86, 0.87), test: (0.80, 0.82, 0.84, 0.85))
      + Self.cells(method: "m", seed: 1, val: (0.80, 0.82, 0.84, 0.85), test: (0.80, 0.79, 0.84, 0.85))
    var study = CertificationStudy()
    study.confidences = [0.9, 0.95]
    study.margins = [0, 0.5]
    let methods = ["hybrid", "m"].map { name in var m = StudyMethod.named("ract")!; m.name = name; return m }
    let report = MatrixReport(
      scenarios: [Scenario.dataRefresh], methods: methods, seeds: [0, 1], epochs: 1, cnnEpochs: 1, marginPoints: 0.5,
      validationExamples: 10, testExamples: 10, cells: cells, certification: study,
      certifications: [
        record("hybrid", seed: 0, whole: ["0.9/0.0", "0.95/0.0"], half: ["0.9/0.0", "0.95/0.0"], halfGains: [2, 2, 2, 2]),
        record("m", seed: 1, whole: ["0.9/0.0"], half: ["0.9/0.0"], halfGains: [-1, 2, 2, 2]),
      ])
    let certificates = CertificateReport(report)
    let loose = certificates.outcome(confidence: 0.9, margin: 0, methods: nil, validationSide: true)
    #expect(loose.falseCertificates == ["m b seed 1 g1->g2"] && loose.certified == 2)
    let chosen = certificates.chosen
    #expect(chosen?.confidence == 0.95 && chosen?.margin == 0, "the loose setting certified a failing pair on half B")
    let test = certificates.outcome(confidence: 0.95, margin: 0, methods: nil, validationSide: false)
    #expect(test.certified == 1 && test.falseCertificates.isEmpty && test.eligible == 1 && test.power == 1)
    let testLoose = certificates.outcome(confidence: 0.9, margin: 0, methods: nil, validationSide: false)
    #expect(testLoose.falseCertificates == ["m b seed 1 g1->g2"])
    let text = report.rendered()
    #expect(text.contains("Chosen on the validation side") && text.contains("confidence 0.95, margin 0 point"))
  }

  @Test("upgrade paths: a pair counts once, certified when any mode is; a failing certified mode is a false certificate")
  func upgradePaths() throws {
    func record(_ method: String, seed: UInt64, certified: Bool) -> PairCertification {
      let verdict = [PairCertification.Verdict(confidence: 0.95, marginPoints: 0.5, certified: certified)]
      return PairCertification(
        pair: .init(scenario: "b", seed: seed, method: method, old: "g1", new: "g2"),
        bounds: CertificateBounds(method: "m", resamples: 1, confidence: 0.95, seed: 0, catalogueSize: 10, steps: [], galleryCurve: []),
        verdicts: verdict, halfVerdicts: verdict, halfCheckGains: [2, 2, 2, 2])
    }
    let holds = (0.80, 0.83, 0.86, 0.87)
    // Seed 0: native refused, transform certified and holds by >= 1 point -> a certified path.
    // Seed 1: native refused and holds by >= 1 point, the query mode certified but failing on test.
    // Seed 2: nothing certified, nothing holds by 1 point.
    let objectives = MatrixReport(
      scenarios: [Scenario.dataRefresh], methods: [StudyMethod.named("hybrid")!], seeds: [0, 1, 2], epochs: 1, cnnEpochs: 1,
      marginPoints: 0.5, validationExamples: 10, testExamples: 10,
      cells: Self.cells(method: "hybrid", seed: 0, val: holds, test: (0.80, 0.79, 0.84, 0.85))
        + Self.cells(method: "hybrid", seed: 1, val: holds, test: (0.80, 0.82, 0.84, 0.85))
        + Self.cells(method: "hybrid", seed: 2, val: holds, test: (0.80, 0.805, 0.81, 0.85)),
      certifications: [0, 1, 2].map { record("hybrid", seed: $0, certified: false) })
    var adapters = MatrixReport(
      scenarios: [Scenario.dataRefresh], methods: [], seeds: [0, 1, 2], epochs: 1, cnnEpochs: 1, marginPoints: 0.5,
      validationExamples: 10, testExamples: 10,
      cells: Self.cells(method: "hybrid+transform", seed: 0, val: holds, test: (0.80, 0.82, 0.84, 0.85))
        + Self.cells(method: "hybrid+query", seed: 1, val: holds, test: (0.80, 0.79, 0.84, 0.85)),
      certifications: [record("hybrid+transform", seed: 0, certified: true), record("hybrid+query", seed: 1, certified: true)])
    adapters.adapterMethods = ["hybrid+query", "hybrid+transform"]
    let merged = try #require(MatrixReport.merging([objectives, adapters]))
    #expect(merged.methodNames == ["hybrid", "hybrid+query", "hybrid+transform"])
    let paths = CertificateReport(merged).pathOutcome(confidence: 0.95, margin: 0.5, base: "hybrid", validationSide: false)
    #expect(paths.pairs == 3 && paths.certified == 2)
    #expect(paths.falseCertificates == ["hybrid+query b seed 1 g1->g2"])
    #expect(paths.eligible == 2 && paths.eligibleCertified == 2, "seeds 0 and 1 each hold by 1 point in some mode")
    let native = CertificateReport(merged).outcome(confidence: 0.95, margin: 0.5, methods: ["hybrid"], validationSide: false)
    #expect(native.certified == 0 && native.eligible == 1 && native.power == 0)
    #expect(merged.rendered().contains("hybrid upgrade paths"))
  }

  @Test("a tiny run trains every generation, caches the models and reports every pair on both splits")
  func tinyRun() throws {
    var generator = SeededGenerator(seed: 5)
    // Two well-separated classes of 4x4 "images" in 0-255.
    func data(_ count: Int, name: String) -> Dataset {
      let labels = (0..<count).map { $0 % 4 }
      var values: [Float] = []
      for label in labels {
        for pixel in 0..<16 {
          values.append(max(0, min(255, Float(pixel % 4 == label ? 200 : 30) + Float.random(in: -20...20, using: &generator))))
        }
      }
      return Dataset(inputs: Matrix(rows: count, columns: 16, values: values), labels: labels, sampleShape: [1, 4, 4], name: name)
    }
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent("bct-matrix-\(UUID().uuidString)")
    let scenario = Scenario(
      id: "t", name: "tiny three generations",
      generations: [GenerationSpec(architecture: "mlp", parameters: ["hidden": "8"], fraction: 0.5, classes: [0, 1]),
                    GenerationSpec(architecture: "mlp", parameters: ["hidden": "8"], fraction: 0.5),
                    GenerationSpec(architecture: "mlp", parameters: ["hidden": "16"])])
    var matrix = ScenarioMatrix(
      scenarios: [scenario], methods: ["influence", "procrustes"].compactMap(StudyMethod.named), seeds: [0],
      epochs: 1, cnnEpochs: 1, directory: folder)
    matrix.validationFraction = 0.25
    var log: [String] = []
    let report = try matrix.run(trainSplit: data(160, name: "tiny/train"), test: data(80, name: "tiny/test")) { log.append($0) }
    // 2 methods x 3 pairs (g1->g2, g1->g3, g2->g3) x 2 splits x 2 metrics.
    #expect(report.cells.count == 24)
    #expect(Set(report.cells.map { "\($0.old)->\($0.new)" }) == ["g1->g2", "g1->g3", "g2->g3"])
    #expect(report.cells.allSatisfy { (0...1).contains($0.q1d1) && (0...1).contains($0.q2d1) && (0...1).contains($0.newStar) })
    #expect(report.validationExamples == 40 && report.testExamples == 80)
    #expect(report.certifications.count == 6 && report.certifications.allSatisfy { $0.bounds.steps.count == 4 && $0.halfCheckGains.count == 4 })
    // g1, g2-independent, g3-independent, and g2/g3 per method.
    #expect(log.filter { $0.hasPrefix("trained") }.count == 7)
    var again: [String] = []
    let second = try matrix.run(trainSplit: data(160, name: "tiny/train"), test: data(80, name: "tiny/test")) { again.append($0) }
    #expect(again.filter { $0.hasPrefix("trained") }.isEmpty, "a second run reuses every cached model")
    #expect(second.cells.count == 24)
  }
}
