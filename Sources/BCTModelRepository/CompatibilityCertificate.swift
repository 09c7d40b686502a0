import Foundation

/// Evidence, kept in the new version's manifest, that its embeddings can stand in
/// for an older version's: M(Q_new, D_new) > M(Q_new, D_old) > M(Q_old, D_old) on
/// held-out data, for top-1 and mAP, each step by more than `marginPoints`.
public struct CompatibilityCertificate: Codable, Sendable, Equatable {
  /// Whether the criterion held.
  public enum Verdict: String, Codable, Sendable {
    /// Every step of the criterion holds by more than the margin on both metrics.
    case certified
    /// Some step fails (the reasons say which).
    case uncertified
  }

  /// One metric's three figures, as fractions in [0, 1].
  public struct Figures: Codable, Sendable, Equatable {
    /// M(Q_old, D_old): the old version searching its own documents.
    public var oldOld: Double
    /// M(Q_new, D_old): new queries against old documents (no backfill).
    public var newOld: Double
    /// M(Q_new, D_new): after a full backfill.
    public var newNew: Double

    public init(oldOld: Double, newOld: Double, newNew: Double) {
      self.oldOld = oldOld
      self.newOld = newOld
      self.newNew = newNew
    }

    /// Cross-model gain over the old version, in points.
    public var crossGainPoints: Double { (newOld - oldOld) * 100 }
    /// What a backfill adds over cross-model search, in points.
    public var backfillGainPoints: Double { (newNew - newOld) * 100 }
  }

  /// The older version this certificate is about.
  public var oldVersion: String
  /// The older version's head fingerprint when certified (ties the evidence to its weights).
  public var oldHeadFingerprint: String
  public var top1: Figures
  public var meanAveragePrecision: Figures
  /// Required gain of every step, in points (percent).
  public var marginPoints: Double
  /// Data the figures were measured on, e.g. "fashion-mnist/train".
  public var dataset: String
  /// Which part of it, e.g. "validation (10% of train, seed 0)"; never the training examples.
  public var split: String
  /// Examples used as queries and as gallery (self-match excluded).
  public var examples: Int
  public var verdict: Verdict
  /// For an uncertified pair, each failed step with its numbers.
  public var reasons: [String]
  /// When it was issued (ISO 8601).
  public var issuedAt: String

  /// A certificate whose verdict follows from the figures and the margin.
  public init(
    oldVersion: String, oldHeadFingerprint: String, top1: Figures, meanAveragePrecision: Figures,
    marginPoints: Double, dataset: String, split: String, examples: Int, issuedAt: String
  ) {
    self.oldVersion = oldVersion
    self.oldHeadFingerprint = oldHeadFingerprint
    self.top1 = top1
    self.meanAveragePrecision = meanAveragePrecision
    self.marginPoints = marginPoints
    self.dataset = dataset
    self.split = split
    self.examples = examples
    self.issuedAt = issuedAt
    let reasons = Self.failedSteps(top1: top1, meanAveragePrecision: meanAveragePrecision, marginPoints: marginPoints)
    self.reasons = reasons
    self.verdict = reasons.isEmpty ? .certified : .uncertified
  }

  /// Every step of the criterion that does not gain strictly more than
  /// `marginPoints` (a gain equal to the margin fails), described with its numbers.
  public static func failedSteps(top1: Figures, meanAveragePrecision: Figures, marginPoints: Double) -> [String] {
    // Figures are fractions; compare in points, with a tolerance below any
    // printed precision so that a tie with the margin is never a pass.
    let tolerance = 1e-9
    var reasons: [String] = []
    for (metric, f) in [("top-1", top1), ("mAP", meanAveragePrecision)] {
      if !(f.crossGainPoints - marginPoints > tolerance) {
        reasons.append(String(
          format: "%@: new queries on old documents %.2f vs old on old %.2f (gain %+.2f, needs > %.2f)",
          metric, f.newOld * 100, f.oldOld * 100, f.crossGainPoints, marginPoints))
      }
      if !(f.backfillGainPoints - marginPoints > tolerance) {
        reasons.append(String(
          format: "%@: new on new documents %.2f vs new queries on old documents %.2f (gain %+.2f, needs > %.2f)",
          metric, f.newNew * 100, f.newOld * 100, f.backfillGainPoints, marginPoints))
      }
    }
    return reasons
  }

  /// One line: the pair, the verdict and the figures.
  public func summary(newVersion: String) -> String {
    func p(_ x: Double) -> String { String(format: "%.1f", x * 100) }
    let figures = "top-1 \(p(top1.oldOld)) -> \(p(top1.newOld)) -> \(p(top1.newNew)), mAP \(p(meanAveragePrecision.oldOld)) -> \(p(meanAveragePrecision.newOld)) -> \(p(meanAveragePrecision.newNew))"
    let margin = String(format: "%.2g", marginPoints)
    switch verdict {
    case .certified:
      return "\(newVersion) vs \(oldVersion): certified on \(split), \(examples) examples (\(figures); margin \(margin) point)"
    case .uncertified:
      return "\(newVersion) vs \(oldVersion): NOT certified on \(split), \(examples) examples (\(figures); margin \(margin) point): \(reasons.joined(separator: "; "))"
    }
  }
}
