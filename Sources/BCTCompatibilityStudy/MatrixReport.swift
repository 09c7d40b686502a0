import BCTModelRepository
import Foundation

/// Every cell of a scenario-matrix run, and what they add up to.
public struct MatrixReport: Sendable, Codable {
  public var scenarios: [Scenario]
  public var methods: [StudyMethod]
  /// Adapter modes studied as methods ("independent+transform", "hybrid+query", ...);
  /// nil in reports without them.
  public var adapterMethods: [String]?
  public var seeds: [UInt64]
  public var epochs: Int
  public var cnnEpochs: Int
  public var marginPoints: Double
  public var validationExamples: Int
  public var testExamples: Int
  public var cells: [MatrixCell]
  /// How certificates were studied, and each pair's record.
  public var certification: CertificationStudy
  public var certifications: [PairCertification]

  public init(
    scenarios: [Scenario], methods: [StudyMethod], seeds: [UInt64], epochs: Int, cnnEpochs: Int, marginPoints: Double,
    validationExamples: Int, testExamples: Int, cells: [MatrixCell], certification: CertificationStudy = .init(),
    certifications: [PairCertification] = []
  ) {
    self.certification = certification
    self.certifications = certifications
    self.scenarios = scenarios
    self.methods = methods
    self.seeds = seeds
    self.epochs = epochs
    self.cnnEpochs = cnnEpochs
    self.marginPoints = marginPoints
    self.validationExamples = validationExamples
    self.testExamples = testExamples
    self.cells = cells
  }

  /// The reports of runs over different scenarios or methods (objectives and
  /// adapter modes) as one, if they agree on seeds, epochs, splits and
  /// certification settings.
  public static func merging(_ reports: [MatrixReport]) -> MatrixReport? {
    guard var combined = reports.first else { return nil }
    for report in reports.dropFirst() {
      guard report.seeds == combined.seeds, report.epochs == combined.epochs,
            report.cnnEpochs == combined.cnnEpochs, report.certification == combined.certification,
            report.validationExamples == combined.validationExamples, report.testExamples == combined.testExamples
      else { return nil }
      combined.scenarios += report.scenarios.filter { !combined.scenarios.contains($0) }
      combined.methods += report.methods.filter { !combined.methods.contains($0) }
      let known = combined.adapterMethods ?? []
      let adapters = known + (report.adapterMethods ?? []).filter { !known.contains($0) }
      combined.adapterMethods = adapters.isEmpty ? nil : adapters
      combined.cells += report.cells
      combined.certifications += report.certifications
    }
    return combined
  }

  /// One method's results over the whole matrix.
  public struct MethodSummary: Sendable, Codable {
    public var method: String
    /// Eligible cells (new* beats old/old by >= 2 points), per split.
    public var eligible: [String: Int]
    /// Of those, cells where the criterion holds strictly, per split.
    public var holding: [String: Int]
    /// Median G over eligible cells, per split and metric ("test/top-1").
    public var medianGain: [String: Double]
    /// Median new* - Q2D2 in points over all pairs, per split and metric.
    public var medianCostPoints: [String: Double]
    /// Pairs certified on validation (both metrics, with the margin).
    public var certified: Int
    /// Pairs in all.
    public var pairs: Int
    /// Certified pairs whose criterion fails on test: "scenario seed old->new".
    public var falseCertificates: [String]
    /// Eligible cells where the criterion fails: "scenario seed old->new split metric".
    public var failingEligible: [String]
  }

  /// Every method's name: training objectives, then adapter modes.
  public var methodNames: [String] { methods.map(\.name) + (adapterMethods ?? []) }

  /// Per-method summaries, in the order the methods ran.
  public var summaries: [MethodSummary] {
    methodNames.map { method in
      let mine = cells.filter { $0.method == method }
      var eligible: [String: Int] = [:]
      var holding: [String: Int] = [:]
      var gains: [String: Double] = [:]
      var costs: [String: Double] = [:]
      var failing: [String] = []
      for split in ["validation", "test"] {
        let inSplit = mine.filter { $0.split == split && $0.eligible }
        eligible[split] = inSplit.count
        holding[split] = inSplit.filter(\.holds).count
        failing += inSplit.filter { !$0.holds }.map { "\($0.scenario) seed \($0.seed) \($0.old)->\($0.new) \($0.split) \($0.metric)" }
        for metric in ["top-1", "mAP"] {
          let key = "\(split)/\(metric)"
          let relevant = inSplit.filter { $0.metric == metric }
          if let median = Self.median(relevant.compactMap(\.gain)) { gains[key] = median }
          if let median = Self.median(mine.filter { $0.split == split && $0.metric == metric }.map(\.costPoints)) {
            costs[key] = median
          }
        }
      }
      var certified = 0
      var pairs = 0
      var falseCertificates: [String] = []
      for pair in Self.pairs(of: mine) {
        pairs += 1
        guard let v1 = pair.first(where: { $0.split == "validation" && $0.metric == "top-1" }),
              let vm = pair.first(where: { $0.split == "validation" && $0.metric == "mAP" }),
              let t1 = pair.first(where: { $0.split == "test" && $0.metric == "top-1" }),
              let tm = pair.first(where: { $0.split == "test" && $0.metric == "mAP" }) else { continue }
        if CompatibilityCertificate.failedSteps(top1: v1.figures, meanAveragePrecision: vm.figures, marginPoints: marginPoints).isEmpty {
          certified += 1
          if !(t1.holds && tm.holds) { falseCertificates.append("\(v1.scenario) seed \(v1.seed) \(v1.old)->\(v1.new)") }
        }
      }
      return MethodSummary(
        method: method, eligible: eligible, holding: holding, medianGain: gains, medianCostPoints: costs,
        certified: certified, pairs: pairs, falseCertificates: falseCertificates, failingEligible: failing)
    }
  }

  /// Cells grouped by (scenario, seed, old, new), in order.
  static func pairs(of cells: [MatrixCell]) -> [[MatrixCell]] {
    var order: [String] = []
    var groups: [String: [MatrixCell]] = [:]
    for cell in cells {
      let key = "\(cell.scenario)|\(cell.seed)|\(cell.old)|\(cell.new)"
      if groups[key] == nil { order.append(key) }
      groups[key, default: []].append(cell)
    }
    return order.map { groups[$0]! }
  }

  /// The median, or nil for no values.
  static func median(_ values: [Double]) -> Double? {
    guard !values.isEmpty else { return nil }
    let sorted = values.sorted()
    let mid = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2
  }

  static func pct(_ x: Double) -> String { String(format: "%5.1f", x * 100) }
  static func gainText(_ g: Double?) -> String { g.map { String(format: "%+5.2f", $0) } ?? "    -" }

  /// One progress line for a finished pair (its four cells: two splits x two metrics).
  static func pairLine(_ cells: ArraySlice<MatrixCell>, marginPoints: Double) -> String {
    guard let first = cells.first else { return "" }
    let parts = cells.map { c in
      "\(c.split == "validation" ? "val" : "test") \(c.metric) \(pct(c.q1d1).trimmingCharacters(in: .whitespaces))/\(pct(c.q2d1).trimmingCharacters(in: .whitespaces))/\(pct(c.q2d2).trimmingCharacters(in: .whitespaces))/\(pct(c.newStar).trimmingCharacters(in: .whitespaces)) G \(gainText(c.gain).trimmingCharacters(in: .whitespaces))\(c.holds ? "" : " FAILS")"
    }
    return "  \(first.scenario) seed \(first.seed) \(first.method) \(first.old)->\(first.new): " + parts.joined(separator: "; ")
  }

  /// The full matrix as tables, then the summary.
  public func rendered() -> String {
    var lines: [String] = []
    lines.append("Scenario matrix: \(seeds.count) seeds (\(seeds.map(String.init).joined(separator: ", "))), \(epochs) epochs (CNN \(cnnEpochs)); validation split \(validationExamples) examples carved from the training data, test split \(testExamples).")
    lines.append("Figures in %: Q1D1 = old/old, Q2D1 = new queries on old documents, Q2D2 = new/new, new* = the same new model trained without a compatibility term.")
    lines.append("G = (Q2D1 - Q1D1) / (new* - Q1D1); cost = new* - Q2D2 (points); holds = Q2D2 > Q2D1 > Q1D1 strictly; * = eligible (new* - Q1D1 >= 2 points).")
    for scenario in scenarios {
      lines.append("")
      lines.append("Scenario \(scenario.description)")
      lines.append("method                 seed pair   split  metric   Q1D1  Q2D1  Q2D2  new*      G   cost  holds")
      for cell in cells where cell.scenario == scenario.id {
        lines.append([
          cell.method.padding(toLength: 22, withPad: " ", startingAt: 0),
          String(format: "%4llu", cell.seed), "\(cell.old)->\(cell.new)".padding(toLength: 6, withPad: " ", startingAt: 0),
          (cell.split == "validation" ? "val" : "test").padding(toLength: 6, withPad: " ", startingAt: 0),
          cell.metric.padding(toLength: 7, withPad: " ", startingAt: 0),
          Self.pct(cell.q1d1), Self.pct(cell.q2d1), Self.pct(cell.q2d2), Self.pct(cell.newStar),
          Self.gainText(cell.gain), String(format: "%+6.1f", cell.costPoints),
          (cell.holds ? "yes" : "NO") + (cell.eligible ? "*" : ""),
        ].joined(separator: " "))
      }
    }
    lines.append("")
    lines.append("Summary per method (eligible cells; medians over eligible cells for G, over all pairs for cost):")
    lines.append("method                 holds val  holds test  G val t1/mAP  G test t1/mAP  cost test t1/mAP  point-rule certified / false (the rule before bounds)")
    for s in summaries {
      func frac(_ split: String) -> String { "\(s.holding[split] ?? 0)/\(s.eligible[split] ?? 0)" }
      func g(_ split: String) -> String { "\(Self.gainText(s.medianGain["\(split)/top-1"]))/\(Self.gainText(s.medianGain["\(split)/mAP"]).trimmingCharacters(in: .whitespaces))" }
      let cost = String(format: "%+.2f/%+.2f", s.medianCostPoints["test/top-1"] ?? .nan, s.medianCostPoints["test/mAP"] ?? .nan)
      lines.append([
        s.method.padding(toLength: 22, withPad: " ", startingAt: 0),
        frac("validation").padding(toLength: 10, withPad: " ", startingAt: 0),
        frac("test").padding(toLength: 11, withPad: " ", startingAt: 0),
        g("validation").padding(toLength: 13, withPad: " ", startingAt: 0),
        g("test").padding(toLength: 14, withPad: " ", startingAt: 0),
        cost.padding(toLength: 17, withPad: " ", startingAt: 0),
        "\(s.certified)/\(s.pairs)".padding(toLength: 10, withPad: " ", startingAt: 0),
        s.falseCertificates.isEmpty ? "none" : s.falseCertificates.joined(separator: ", "),
      ].joined(separator: " "))
    }
    for s in summaries where !s.failingEligible.isEmpty {
      lines.append("  \(s.method) fails in eligible cells: \(s.failingEligible.joined(separator: "; "))")
    }
    if let best = bestOnValidation {
      lines.append("")
      lines.append("Chosen on validation (most eligible cells holding, then median G over both metrics): \(best)")
    }
    if !certifications.isEmpty { lines += CertificateReport(self).rendered() }
    return lines.joined(separator: "\n")
  }

  /// The method a choice on the validation split picks: most eligible validation
  /// cells holding, then the highest mean of the two validation median gains.
  public var bestOnValidation: String? {
    summaries.max { a, b in
      func key(_ s: MethodSummary) -> (Int, Double) {
        (s.holding["validation"] ?? 0,
         ((s.medianGain["validation/top-1"] ?? -9) + (s.medianGain["validation/mAP"] ?? -9)) / 2)
      }
      return key(a) < key(b)
    }?.method
  }
}
