import Foundation

/// Evidence, kept in the new version's manifest, that its embeddings can stand in
/// for an older version's: M(Q_new, D_new) > M(Q_new, D_old) > M(Q_old, D_old) on
/// held-out data, for top-1 and mAP, each step's lower confidence bound (projected
/// to the catalogue's size) above `marginPoints`.
public struct CompatibilityCertificate: Codable, Sendable, Equatable {
  /// Whether the criterion held.
  public enum Verdict: String, Codable, Sendable {
    /// Every step's lower confidence bound exceeds the margin on both metrics.
    case certified
    /// Some step fails, or the certificate carries no bounds (the reasons say which).
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
  /// Top-1 (precision at 1 under per-pair relevance) and mean average precision.
  public var top1: Figures
  public var meanAveragePrecision: Figures
  /// Under per-pair relevance: recall@10, MRR@10 and nDCG@10 by name; nil otherwise.
  public var perPair: [String: Figures]?
  /// Required gain of every step, in points (percent).
  public var marginPoints: Double
  /// Data the figures were measured on, e.g. "fashion-mnist/train".
  public var dataset: String
  /// Which part of it, e.g. "validation (10% of train, seed 0)"; never the training examples.
  public var split: String
  /// Examples used as queries and as gallery (self-match excluded).
  public var examples: Int
  /// The confidence bounds the verdict rests on; nil in certificates issued before
  /// bounds existed, which never certify.
  public var bounds: CertificateBounds?
  public var verdict: Verdict
  /// For an uncertified pair, each failed step with its numbers.
  public var reasons: [String]
  /// When it was issued (ISO 8601).
  public var issuedAt: String

  /// A certificate whose verdict follows from the bounds and the margin (without
  /// bounds it is uncertified).
  public init(
    oldVersion: String, oldHeadFingerprint: String, top1: Figures, meanAveragePrecision: Figures,
    bounds: CertificateBounds?, marginPoints: Double, dataset: String, split: String, examples: Int, issuedAt: String
  ) {
    self.oldVersion = oldVersion
    self.oldHeadFingerprint = oldHeadFingerprint
    self.top1 = top1
    self.meanAveragePrecision = meanAveragePrecision
    self.bounds = bounds
    self.marginPoints = marginPoints
    self.dataset = dataset
    self.split = split
    self.examples = examples
    self.issuedAt = issuedAt
    self.reasons = []
    self.verdict = .uncertified
    judge()
  }

  private enum CodingKeys: String, CodingKey {
    case oldVersion, oldHeadFingerprint, top1, meanAveragePrecision, perPair, marginPoints, dataset, split, examples,
      bounds, verdict, reasons, issuedAt
  }

  /// Decodes a certificate and judges it again under today's rule, whatever verdict
  /// it was stored with: one without bounds (or with incomplete bounds) is uncertified.
  public init(from decoder: Decoder) throws {
    let c = try decoder.container(keyedBy: CodingKeys.self)
    oldVersion = try c.decode(String.self, forKey: .oldVersion)
    oldHeadFingerprint = try c.decode(String.self, forKey: .oldHeadFingerprint)
    top1 = try c.decode(Figures.self, forKey: .top1)
    meanAveragePrecision = try c.decode(Figures.self, forKey: .meanAveragePrecision)
    perPair = try c.decodeIfPresent([String: Figures].self, forKey: .perPair)
    marginPoints = try c.decode(Double.self, forKey: .marginPoints)
    dataset = try c.decode(String.self, forKey: .dataset)
    split = try c.decode(String.self, forKey: .split)
    examples = try c.decode(Int.self, forKey: .examples)
    bounds = try c.decodeIfPresent(CertificateBounds.self, forKey: .bounds)
    issuedAt = try c.decode(String.self, forKey: .issuedAt)
    reasons = []
    verdict = .uncertified
    judge()
  }

  /// Sets the verdict and reasons from the bounds and the margin.
  private mutating func judge() {
    guard let bounds else {
      reasons = ["issued without confidence bounds (point estimates only, before bct checked its own uncertainty); re-certify with bct eval --certify"]
      verdict = .uncertified
      return
    }
    reasons = Self.failedSteps(bounds, marginPoints: marginPoints)
    verdict = reasons.isEmpty ? .certified : .uncertified
  }

  /// Every step whose lower bound does not exceed `marginPoints` strictly (a bound
  /// equal to the margin fails), or is missing, described with its numbers.
  public static func failedSteps(_ bounds: CertificateBounds, marginPoints: Double) -> [String] {
    // Compare in points with a tolerance below any printed precision, so that a tie
    // with the margin is never a pass; NaN never passes.
    let tolerance = 1e-9
    var reasons: [String] = []
    for name in bounds.required {
      guard let step = bounds.steps.first(where: { $0.name == name }) else {
        reasons.append("\(name): no bound recorded")
        continue
      }
      if !(step.lowerBoundPoints - marginPoints > tolerance) {
        reasons.append(String(
          format: "%@: lower bound %+.2f (estimate %+.2f, %+.2f at %d documents) needs > %.2f",
          name, step.lowerBoundPoints, step.estimatePoints, step.projectedPoints, bounds.catalogueSize, marginPoints))
      }
    }
    if !(bounds.confidence > 0 && bounds.confidence < 1) || bounds.resamples < 1 {
      reasons.append("bounds at confidence \(bounds.confidence) from \(bounds.resamples) resamples mean nothing")
    }
    return reasons
  }

  /// Every step of the criterion whose point estimate does not gain strictly more
  /// than `marginPoints` (a gain equal to the margin fails), described with its numbers.
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
    let named = [("top-1", top1), ("mAP", meanAveragePrecision)] + (perPair ?? [:]).sorted { $0.key > $1.key }.map { ($0.key, $0.value) }
    let figures = named.map { "\($0.0) \(p($0.1.oldOld)) -> \(p($0.1.newOld)) -> \(p($0.1.newNew))" }.joined(separator: ", ")
    let margin = String(format: "%.2g", marginPoints)
    let evidence = "\(figures); \(boundsSummary); margin \(margin) point"
    switch verdict {
    case .certified:
      return "\(newVersion) vs \(oldVersion): certified on \(split), \(examples) examples (\(evidence))"
    case .uncertified:
      return "\(newVersion) vs \(oldVersion): NOT certified on \(split), \(examples) examples (\(evidence)): \(reasons.joined(separator: "; "))"
    }
  }

  /// "lower bounds top-1 +0.8/+1.9, mAP +2.0/+1.1 (cross/backfill, 95% item bootstrap ...)", or "no bounds".
  public var boundsSummary: String {
    guard let bounds else { return "no confidence bounds" }
    func bound(_ name: String) -> String {
      bounds.steps.first { $0.name == name }.map { String(format: "%+.2f", $0.lowerBoundPoints) } ?? "?"
    }
    let metrics = bounds.relevance == "qrels" ? ["recall@10", "nDCG@10"] : ["top-1", "mAP"]
    let listed = metrics.map { "\($0) \(bound("\($0) cross gain"))/\(bound("\($0) backfill gain"))" }
    return "lower bounds " + listed.joined(separator: ", ") + " (cross/backfill, \(bounds.description))"
  }
}
