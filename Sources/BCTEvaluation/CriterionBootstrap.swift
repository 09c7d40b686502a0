import BCTModelRepository
import BCTNumerics
import Dispatch

/// The item bootstrap of a `PairEvaluation`: each resample draws the split's items
/// with replacement, and an item drawn m times counts m times as a query and is in
/// the gallery when m > 0 (queries and gallery move together, as they do in the
/// evaluation). Top-1 is re-measured exactly on every resample, at every gallery
/// size of the curve, from each query's nearest documents; mAP moves by its
/// influence function (query half and gallery half, the latter the exact effect
/// of removing each document), which costs one pass per resample.
public struct CriterionBootstrap: Sendable {
  /// The steps, in `CertificateBounds.requiredSteps` order.
  public static let steps: [(metric: String, step: String)] = [
    ("top-1", "cross"), ("top-1", "backfill"), ("mAP", "cross"), ("mAP", "backfill"),
  ]
  /// How bounds from it are described in certificates.
  public static let method = "item bootstrap (queries and documents resampled together, centred percentile; top-1 spread widened by the hub design effect)"

  /// Per step, per resample: the gain on the whole split, in points.
  public let gains: [[Double]]
  /// Per step, per resample: the gain's change per doubling of the gallery, in points
  /// (top-1 re-measured per resample; mAP's from the measured curve).
  public let slopes: [[Double]]
  public let seed: UInt64
  public var resamples: Int { gains.first?.count ?? 0 }

  /// Draws `resamples` resamples of `evaluation`, deterministically from `seed`.
  public static func draw(_ evaluation: PairEvaluation, resamples: Int, seed: UInt64) -> CriterionBootstrap {
    let count = max(1, resamples)
    let out = ResampleStore(steps: steps.count, resamples: count)
    let context = ResampleContext(evaluation)
    let workers = max(1, min(processorCount, 8))
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
      var weights = Array(repeating: Int32(0), count: evaluation.labels.count)
      for b in stride(from: worker, to: count, by: workers) {
        var generator = SeededGenerator(seed: seed &+ UInt64(b) &* 0xD1B5_4A32_D192_ED03)
        context.draw(&weights, using: &generator)
        let (gains, slopes) = context.steps(weights)
        out.store(b, gains: gains, slopes: slopes)
      }
    }
    return CriterionBootstrap(gains: out.gains(), slopes: out.slopes(), seed: seed)
  }

  /// The bounds at one-sided `confidence`, projected to `catalogueSize` documents.
  ///
  /// Each step's projection is the whole-split gain plus the curve's slope times
  /// the doublings from the split to the catalogue, when that lowers it (a gain
  /// that grows with the gallery is never credited). The bound is the projected
  /// estimate less the spread of the projected resamples below their mean (a
  /// centred percentile: a resample's gallery holds only ~63% of the items, which
  /// shifts top-1 but not its spread).
  ///
  /// Top-1 spreads are widened by the square root of the pair's hub design effect.
  /// When many new queries share one nearest old document (a hub), that document's
  /// label decides all of them at once; which document becomes the hub, and its
  /// label, changes with the catalogue, but a resample of one split only ever sees
  /// that split's hubs. Queries sharing a nearest document are then one cluster, and
  /// Kish's design effect (relative to the same-model searches, whose ordinary
  /// hubness the bootstrap already sees) is the variance the resampling misses.
  public func bounds(for evaluation: PairEvaluation, confidence: Double, catalogueSize: Int) -> CertificateBounds {
    let hubs = evaluation.hubDesignEffect
    let widening = hubs.squareRoot()
    let doublings = log2(Double(max(1, catalogueSize)) / Double(max(1, evaluation.labels.count)))
    let pointGains = ResampleContext.pointGains(evaluation.curve)
    var bounds: [CertificateBounds.Step] = []
    for (s, step) in Self.steps.enumerated() {
      let slope = slopePerDoubling(sizes: evaluation.curveSizes, values: pointGains[s])
      let estimate = pointGains[s].last ?? 0
      let projected = estimate + min(0, slope * doublings)
      let resampled = zip(gains[s], slopes[s]).map { $0 + min(0, $1 * doublings) }
      let mean = resampled.reduce(0, +) / Double(max(1, resampled.count))
      let spread = (mean - Self.lowerQuantile(resampled, confidence: confidence)) * (step.metric == "top-1" ? widening : 1)
      let lower = projected - spread
      bounds.append(.init(
        metric: step.metric, step: step.step, estimatePoints: estimate, projectedPoints: projected,
        lowerBoundPoints: lower, slopePointsPerDoubling: slope))
    }
    return CertificateBounds(
      method: Self.method, resamples: resamples, confidence: confidence, seed: seed, catalogueSize: catalogueSize,
      steps: bounds, galleryCurve: evaluation.curve, hubDesignEffect: hubs)
  }

  /// The value below which a fraction 1 - `confidence` of `values` lies (order statistic).
  static func lowerQuantile(_ values: [Double], confidence: Double) -> Double {
    guard !values.isEmpty else { return .nan }
    let sorted = values.sorted()
    let rank = Int(((1 - confidence) * Double(sorted.count)).rounded(.up)) - 1
    return sorted[min(max(rank, 0), sorted.count - 1)]
  }
}

/// What every resample needs, computed once: labels, neighbour lists, curve
/// positions, and the mAP influence differences of the two steps.
private final class ResampleContext: @unchecked Sendable {
  let evaluation: PairEvaluation
  /// Per item: influence of the mAP cross step and backfill step, in points.
  let crossInfluence: [Double]
  let backfillInfluence: [Double]
  let pointGains: [[Double]]
  /// mAP's slopes are not resampled: those of the measured curve, computed once.
  let mapSlopes: (cross: Double, backfill: Double)
  let scoredCount: Double

  init(_ evaluation: PairEvaluation) {
    self.evaluation = evaluation
    func influence(_ o: QueryOutcomes) -> [Double] {
      let mean = o.meanAveragePrecision
      return (0..<o.count).map { j in (o.scored[j] ? o.averagePrecision[j] - mean : 0) + o.removalEffect[j] }
    }
    let (oo, no, nn) = (influence(evaluation.oldOld), influence(evaluation.newOld), influence(evaluation.newNew))
    crossInfluence = zip(no, oo).map { ($0 - $1) * 100 }
    backfillInfluence = zip(nn, no).map { ($0 - $1) * 100 }
    pointGains = Self.pointGains(evaluation.curve)
    mapSlopes = (slopePerDoubling(sizes: evaluation.curveSizes, values: pointGains[2]),
                 slopePerDoubling(sizes: evaluation.curveSizes, values: pointGains[3]))
    scoredCount = Double(max(1, evaluation.oldOld.scored.filter { $0 }.count))
  }

  /// Per step, its gain in points at each curve size.
  static func pointGains(_ curve: [CertificateBounds.CurvePoint]) -> [[Double]] {
    [curve.map(\.top1.crossGainPoints), curve.map(\.top1.backfillGainPoints),
     curve.map(\.meanAveragePrecision.crossGainPoints), curve.map(\.meanAveragePrecision.backfillGainPoints)]
  }

  /// Multinomial item counts: n draws with replacement.
  func draw(_ weights: inout [Int32], using generator: inout SeededGenerator) {
    let n = weights.count
    for i in 0..<n { weights[i] = 0 }
    for _ in 0..<n { weights[Int(generator.next() % UInt64(n))] += 1 }
  }

  /// The four steps' whole-split gains and slopes on one resample.
  func steps(_ weights: [Int32]) -> (gains: [Double], slopes: [Double]) {
    let sizes = evaluation.curveSizes
    let (oo, no, nn) = (top1(evaluation.oldOld, weights), top1(evaluation.newOld, weights), top1(evaluation.newNew, weights))
    let cross = sizes.indices.map { (no[$0] - oo[$0]) * 100 }
    let backfill = sizes.indices.map { (nn[$0] - no[$0]) * 100 }
    var mapCross = pointGains[2].last ?? 0
    var mapBackfill = pointGains[3].last ?? 0
    for j in weights.indices where weights[j] != 1 {
      let extra = Double(weights[j] - 1) / scoredCount
      mapCross += extra * crossInfluence[j]
      mapBackfill += extra * backfillInfluence[j]
    }
    let gains = [cross.last ?? 0, backfill.last ?? 0, mapCross, mapBackfill]
    let slopes = [
      slopePerDoubling(sizes: sizes, values: cross), slopePerDoubling(sizes: sizes, values: backfill),
      mapSlopes.cross, mapSlopes.backfill,
    ]
    return (gains, slopes)
  }

  /// Weighted top-1 of `o` at every curve size on the resample `weights`: each
  /// query's first neighbour that was drawn and lies within the size's gallery.
  private func top1(_ o: QueryOutcomes, _ weights: [Int32]) -> [Double] {
    let sizes = evaluation.curveSizes
    let positions = evaluation.positions
    let labels = evaluation.labels
    let k = o.neighbourCount
    var hits = Array(repeating: 0.0, count: sizes.count)
    var total = Array(repeating: 0.0, count: sizes.count)
    for q in 0..<o.count where o.scored[q] && weights[q] > 0 {
      let w = Double(weights[q])
      var unfound = sizes.count
      for slot in 0..<k {
        let j = Int(o.neighbours[q * k + slot])
        guard j >= 0 else { break }
        guard weights[j] > 0 else { continue }
        let match = labels[j] == labels[q] ? w : 0
        while unfound > 0 && Int(positions[j]) < sizes[unfound - 1] {
          unfound -= 1
          hits[unfound] += match
          total[unfound] += w
        }
        if unfound == 0 { break }
      }
    }
    return zip(hits, total).map { $1 > 0 ? $0 / $1 : 0 }
  }
}

/// Per-resample results written by concurrent workers, each resample by one worker.
private final class ResampleStore: @unchecked Sendable {
  private let steps: Int
  private let resamples: Int
  private let gainValues: UnsafeMutableBufferPointer<Double>
  private let slopeValues: UnsafeMutableBufferPointer<Double>

  init(steps: Int, resamples: Int) {
    self.steps = steps
    self.resamples = resamples
    gainValues = .allocate(capacity: steps * resamples)
    gainValues.initialize(repeating: 0)
    slopeValues = .allocate(capacity: steps * resamples)
    slopeValues.initialize(repeating: 0)
  }

  deinit {
    gainValues.deallocate()
    slopeValues.deallocate()
  }

  func store(_ b: Int, gains: [Double], slopes: [Double]) {
    for s in 0..<steps {
      gainValues[s * resamples + b] = gains[s]
      slopeValues[s * resamples + b] = slopes[s]
    }
  }

  func gains() -> [[Double]] { (0..<steps).map { Array(gainValues[($0 * resamples)..<(($0 + 1) * resamples)]) } }
  func slopes() -> [[Double]] { (0..<steps).map { Array(slopeValues[($0 * resamples)..<(($0 + 1) * resamples)]) } }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
