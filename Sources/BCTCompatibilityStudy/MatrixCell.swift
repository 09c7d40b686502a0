import BCTModelRepository

/// One cell of the scenario matrix: a (scenario, seed, method, old -> new pair,
/// split, metric) and its four figures, as fractions in [0, 1].
public struct MatrixCell: Sendable, Codable, Equatable {
  public var scenario: String
  public var seed: UInt64
  public var method: String
  /// Generation names, e.g. "g1" -> "g2".
  public var old: String
  public var new: String
  /// "validation" or "test".
  public var split: String
  /// "top-1" or "mAP".
  public var metric: String
  /// M(Q_old, D_old).
  public var q1d1: Double
  /// M(Q_new, D_old).
  public var q2d1: Double
  /// M(Q_new, D_new).
  public var q2d2: Double
  /// M(new*, new*): the same new generation trained without a compatibility term.
  public var newStar: Double

  public init(
    scenario: String, seed: UInt64, method: String, old: String, new: String, split: String, metric: String,
    q1d1: Double, q2d1: Double, q2d2: Double, newStar: Double
  ) {
    self.scenario = scenario
    self.seed = seed
    self.method = method
    self.old = old
    self.new = new
    self.split = split
    self.metric = metric
    self.q1d1 = q1d1
    self.q2d1 = q2d1
    self.q2d2 = q2d2
    self.newStar = newStar
  }

  /// Whether the upgrade is worth certifying at all: new* beats old/old by 2 points.
  public var eligible: Bool { (newStar - q1d1) * 100 >= 2 }
  /// M(Q2,D2) > M(Q2,D1) > M(Q1,D1), strictly.
  public var holds: Bool { q2d2 > q2d1 && q2d1 > q1d1 }
  /// Normalised gain G = (Q2D1 - Q1D1) / (new* - Q1D1); nil when new* does not beat old/old.
  public var gain: Double? { newStar > q1d1 ? (q2d1 - q1d1) / (newStar - q1d1) : nil }
  /// What compatibility costs the new model on its own documents, in points: new* - Q2D2.
  public var costPoints: Double { (newStar - q2d2) * 100 }
  /// The figures as a certificate would hold them.
  public var figures: CompatibilityCertificate.Figures { .init(oldOld: q1d1, newOld: q2d1, newNew: q2d2) }
}
