/// A backfill in progress: give every document an embedding of `target`.
public struct BackfillPlan: Sendable, Equatable, Codable {
  /// The version to re-embed to.
  public var target: String
  /// Documents per encoder call.
  public var batchSize: Int
  /// Documents per second at most (0: unlimited).
  public var rate: Double
  /// In place, or into the shadow copy.
  public var shadow: Bool

  /// A plan.
  public init(target: String, batchSize: Int, rate: Double, shadow: Bool = false) {
    self.target = target
    self.batchSize = batchSize
    self.rate = rate
    self.shadow = shadow
  }

  /// The rate limits a request may ask for (0, unlimited, aside).
  public static let rates: ClosedRange<Double> = 0.01...1e9
  /// The longest pause between two batches, whatever a plan read from an older log says.
  public static let longestPause: Double = 86_400

  /// Documents per encoder call, within 1-4096 whatever the log held.
  public var effectiveBatchSize: Int { min(max(batchSize, 1), 4096) }

  /// Seconds `count` documents may take under the rate limit (0 without one);
  /// finite and bounded for any stored rate (NaN, negative or tiny ones included).
  public func pause(after count: Int) -> Double {
    guard rate > 0, rate.isFinite else { return 0 }
    return min(Double(count) / max(rate, Self.rates.lowerBound), Self.longestPause)
  }
}
