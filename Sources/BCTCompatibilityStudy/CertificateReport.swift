import BCTModelRepository
import Foundation

/// What the matrix says about bounded certificates: false certificates and power
/// at every setting of the grid, on the validation side (half A certifies, half B
/// checks) and on the test split; the default setting chosen on the validation
/// side only; and how often the test gain falls below each bound.
public struct CertificateReport: Sendable {
  /// Certificates at one setting over a set of pairs.
  public struct Outcome: Sendable, Codable, Equatable {
    public var certified = 0
    public var pairs = 0
    /// Certified pairs whose criterion fails on the check data.
    public var falseCertificates: [String] = []
    /// Pairs holding by at least the power threshold on every step of the check data.
    public var eligible = 0
    /// Of those, the certified ones.
    public var eligibleCertified = 0
    /// eligibleCertified / eligible; nil without eligible pairs.
    public var power: Double? { eligible == 0 ? nil : Double(eligibleCertified) / Double(eligible) }
  }

  let report: MatrixReport

  public init(_ report: MatrixReport) { self.report = report }

  /// The pair's four step gains on the test split, in points, and whether the strict criterion holds there.
  func testCheck(_ pair: PairCertification.Pair) -> (gains: [Double], holds: Bool)? {
    let mine = report.cells.filter {
      $0.split == "test" && $0.scenario == pair.scenario && $0.seed == pair.seed && $0.method == pair.method
        && $0.old == pair.old && $0.new == pair.new
    }
    guard let t = mine.first(where: { $0.metric == "top-1" }), let m = mine.first(where: { $0.metric == "mAP" }) else {
      return nil
    }
    return ([t.figures.crossGainPoints, t.figures.backfillGainPoints, m.figures.crossGainPoints, m.figures.backfillGainPoints],
            t.holds && m.holds)
  }

  /// The check of one record: its four step gains and whether the strict criterion
  /// holds, on half B of the validation split when `validationSide`, else on test.
  func check(_ record: PairCertification, validationSide: Bool) -> (gains: [Double], holds: Bool)? {
    validationSide ? (record.halfCheckGains, record.halfCheckGains.allSatisfy { $0 > 0 }) : testCheck(record.pair)
  }

  /// Certificates at (`confidence`, `margin`) for `methods` (nil = all): on half A
  /// checked on half B when `validationSide`, else on the whole validation split checked on test.
  public func outcome(confidence: Double, margin: Double, methods: Set<String>?, validationSide: Bool) -> Outcome {
    let records = report.certifications.filter { methods?.contains($0.pair.method) ?? true }
    return tally(records.map { [$0] }, confidence: confidence, margin: margin, validationSide: validationSide)
  }

  /// The method names of `base`'s upgrade paths: its native search and the adapter modes fitted on it.
  static func pathMethods(of base: String) -> Set<String> {
    [base, base + "+query", base + "+transform"]
  }

  /// Certificates of `base`'s upgrade paths, one unit per old/new pair as the
  /// services see it: the pair is certified when any of its modes (native,
  /// query-adapted, transformed documents) is, a false certificate when a certified
  /// mode fails its check, and counts toward power when any mode holds by the
  /// power threshold on every step.
  public func pathOutcome(confidence: Double, margin: Double, base: String, validationSide: Bool) -> Outcome {
    let methods = Self.pathMethods(of: base)
    let byPair = Dictionary(grouping: report.certifications.filter { methods.contains($0.pair.method) }, by: \.pair.label)
    let groups = byPair.sorted { $0.key < $1.key }.map(\.value)
    return tally(groups, confidence: confidence, margin: margin, validationSide: validationSide)
  }

  /// Counts each group of records (the modes of one unit) as one pair: certified when
  /// any record is, eligible when any holds by the power threshold on every step, and
  /// a false certificate for every certified record whose check fails. A group none of
  /// whose records can be checked is left out.
  private func tally(_ groups: [[PairCertification]], confidence: Double, margin: Double, validationSide: Bool) -> Outcome {
    var outcome = Outcome()
    for records in groups {
      var (checked, certified, eligible) = (false, false, false)
      for record in records {
        guard let check = check(record, validationSide: validationSide) else { continue }
        let modeCertified = record.certified(confidence: confidence, margin: margin, half: validationSide)
        checked = true
        certified = certified || modeCertified
        if modeCertified && !check.holds { outcome.falseCertificates.append("\(record.pair.method) \(record.pair.label)") }
        eligible = eligible || check.gains.allSatisfy { $0 >= report.certification.powerThresholdPoints }
      }
      guard checked else { continue }
      outcome.pairs += 1
      if certified { outcome.certified += 1 }
      if eligible {
        outcome.eligible += 1
        if certified { outcome.eligibleCertified += 1 }
      }
    }
    return outcome
  }

  /// Every (confidence, margin) of the grid.
  var settings: [(confidence: Double, margin: Double)] {
    report.certification.confidences.flatMap { c in report.certification.margins.map { (c, $0) } }
  }

  /// The default setting chosen on the validation side only: the fewest false
  /// certificates over all methods (none, where a setting has none), then the
  /// highest power of the default method's upgrade paths (native and adapted), then
  /// the highest power over all methods;
  /// where the evidence does not separate settings, the conventional 95% and 0.5
  /// point fixed before the study, then the higher confidence and margin.
  public var chosen: (confidence: Double, margin: Double)? {
    let base = report.certification.defaultMethod
    return settings.max { a, b in
      func key(_ s: (confidence: Double, margin: Double)) -> [Double] {
        let all = outcome(confidence: s.confidence, margin: s.margin, methods: nil, validationSide: true)
        return [-Double(all.falseCertificates.count),
                pathOutcome(confidence: s.confidence, margin: s.margin, base: base, validationSide: true).power ?? -1,
                all.power ?? -1, s.confidence == 0.95 && s.margin == 0.5 ? 1 : 0, s.confidence, s.margin]
      }
      return key(a).lexicographicallyPrecedes(key(b))
    }
  }
}
