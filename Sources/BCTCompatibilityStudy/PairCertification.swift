import BCTModelRepository
import Foundation

/// One pair's certificate in the scenario matrix: its bounds, and its verdict at
/// every setting of the grid on the whole validation split and on half of it.
public struct PairCertification: Sendable, Codable, Equatable {
  /// Which pair: scenario, seed, method and generations.
  public struct Pair: Sendable, Codable, Hashable {
    public var scenario: String
    public var seed: UInt64
    public var method: String
    public var old: String
    public var new: String

    public init(scenario: String, seed: UInt64, method: String, old: String, new: String) {
      self.scenario = scenario
      self.seed = seed
      self.method = method
      self.old = old
      self.new = new
    }

    /// "b seed 0 g1->g2".
    public var label: String { "\(scenario) seed \(seed) \(old)->\(new)" }
  }

  /// Certified or not at one (confidence, margin).
  public struct Verdict: Sendable, Codable, Equatable {
    public var confidence: Double
    public var marginPoints: Double
    public var certified: Bool

    public init(confidence: Double, marginPoints: Double, certified: Bool) {
      self.confidence = confidence
      self.marginPoints = marginPoints
      self.certified = certified
    }
  }

  public var pair: Pair
  /// Bounds on the whole validation split at the default confidence, projected to the test split's size.
  public var bounds: CertificateBounds
  /// Whole validation split, projected to the test split's size.
  public var verdicts: [Verdict]
  /// Half A of the validation split, projected to half B's size.
  public var halfVerdicts: [Verdict]
  /// The four steps' gains on half B, in points.
  public var halfCheckGains: [Double]

  public init(pair: Pair, bounds: CertificateBounds, verdicts: [Verdict], halfVerdicts: [Verdict], halfCheckGains: [Double]) {
    self.pair = pair
    self.bounds = bounds
    self.verdicts = verdicts
    self.halfVerdicts = halfVerdicts
    self.halfCheckGains = halfCheckGains
  }

  /// Whether the pair is certified at (`confidence`, `margin`), on half A when `half`.
  public func certified(confidence: Double, margin: Double, half: Bool) -> Bool {
    (half ? halfVerdicts : verdicts).contains {
      $0.certified && abs($0.confidence - confidence) < 1e-12 && abs($0.marginPoints - margin) < 1e-12
    }
  }

  /// One progress line: the lower bounds and the verdicts at the default margin.
  var line: String {
    let steps = bounds.steps.map { String(format: "%+.2f", $0.lowerBoundPoints) }.joined(separator: "/")
    let confidence = Int((bounds.confidence * 100).rounded())
    return "bounds (\(confidence)%, to \(bounds.catalogueSize) docs) top-1 cross/backfill, mAP cross/backfill: \(steps)"
  }
}
