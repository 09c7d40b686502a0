import BCTCompatibilityStudy
import BCTData
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
    #expect(report.rendered().contains("false certificates"))
    #expect(report.bestOnValidation == "m")
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
    // g1, g2-independent, g3-independent, and g2/g3 per method.
    #expect(log.filter { $0.hasPrefix("trained") }.count == 7)
    var again: [String] = []
    let second = try matrix.run(trainSplit: data(160, name: "tiny/train"), test: data(80, name: "tiny/test")) { again.append($0) }
    #expect(again.filter { $0.hasPrefix("trained") }.isEmpty, "a second run reuses every cached model")
    #expect(second.cells.count == 24)
  }
}
