import BCTNumerics
import Dispatch

/// Per-query retrieval outcomes of one query model against one gallery model on
/// the same items: item i is query i and document i, and a query never retrieves
/// itself (the protocol of `RetrievalMetrics.evaluate` with `excludeSelf`). Kept per
/// query so that the evaluation can be resampled without searching again.
public struct QueryOutcomes: Sendable {
  /// Items (queries = documents).
  public let count: Int
  /// 1 when query i's nearest document shares its label (ties go to the relevant document).
  public var hits: [UInt8]
  /// Average precision of query i over the whole ranking.
  public var averagePrecision: [Double]
  /// Whether query i has a relevant document at all; others are left out of every mean.
  public var scored: [Bool]
  /// For document j: the summed average precision over all queries minus the same
  /// sum with j removed from the gallery (negative for a document that only gets in
  /// the way). The gallery half of the mAP's influence function.
  public var removalEffect: [Double]
  /// The `neighbourCount` nearest documents of each query, nearest first (row-major),
  /// ties with the relevant document first; -1 pads a short gallery.
  public var neighbours: [Int32]
  public let neighbourCount: Int
  /// Top-1 and mAP against each smaller gallery of the curve measured with it
  /// (every query with a relevant member), smallest first.
  public var curveTop1: [Double]
  public var curveMeanAveragePrecision: [Double]

  /// Fraction of scored queries with a hit.
  public var top1: Double { mean(hits.map(Double.init)) }
  /// Mean average precision over scored queries.
  public var meanAveragePrecision: Double { mean(averagePrecision) }

  private func mean(_ values: [Double]) -> Double {
    var sum = 0.0
    var n = 0
    for i in 0..<count where scored[i] {
      sum += values[i]
      n += 1
    }
    return n == 0 ? 0 : sum / Double(n)
  }

  /// Searches unit-norm `gallery` with unit-norm `queries` (row i of each is item i,
  /// labelled `labels[i]`), keeping `neighbours` nearest documents per query, and
  /// measures every query against the smaller galleries of `curve` too.
  static func measure(
    queries: Matrix, gallery: Matrix, labels: [Int], neighbours: Int, curve: QueryRanking.GalleryCurve = .none
  ) -> QueryOutcomes {
    precondition(queries.columns == gallery.columns && queries.rows == gallery.rows && labels.count == queries.rows,
                 "queries, gallery and labels describe the same items")
    let n = queries.rows
    let k = max(0, min(neighbours, n - 1))
    let store = OutcomeStore(count: n, neighbours: k, curveSizes: curve.sizes.count)
    let workers = max(1, min(processorCount, 8))
    let effects = (0..<workers).map { _ in EffectAccumulator(count: n) }
    let block = 256
    for start in stride(from: 0, to: n, by: block) {
      let end = min(n, start + block)
      let scores = BLAS.matmul(queries.rows(start..<end), gallery, transposeB: .transposed)
      DispatchQueue.concurrentPerform(iterations: workers) { worker in
        var ranking = QueryRanking(count: n, neighbours: k, curve: curve)
        scores.values.withUnsafeBufferPointer { s in
          for q in stride(from: start + worker, to: end, by: workers) {
            ranking.rank(row: s.baseAddress! + (q - start) * n, query: q, labels: labels)
            store.record(q, ranking)
            ranking.addRemovalEffects(to: effects[worker].values)
          }
        }
      }
    }
    var outcomes = store.outcomes()
    for accumulator in effects {
      for j in 0..<n { outcomes.removalEffect[j] += accumulator.values[j] }
    }
    return outcomes
  }
}

/// One worker's running removal effects (summed over workers at the end).
private final class EffectAccumulator: @unchecked Sendable {
  let values: UnsafeMutableBufferPointer<Double>
  init(count: Int) { values = .allocate(capacity: count); values.initialize(repeating: 0) }
  deinit { values.deallocate() }
}

/// Per-query slots filled by concurrent workers. Each query's slots are written by
/// exactly one worker, so the unsynchronised writes never overlap.
private final class OutcomeStore: @unchecked Sendable {
  private let count: Int
  private let neighbourCount: Int
  private let hits: UnsafeMutableBufferPointer<UInt8>
  private let averagePrecision: UnsafeMutableBufferPointer<Double>
  private let scored: UnsafeMutableBufferPointer<Bool>
  private let neighbours: UnsafeMutableBufferPointer<Int32>
  /// Per query and curve size: 0 unscored, 1 scored miss, 2 scored hit; and the average precision.
  private let curveOutcome: UnsafeMutableBufferPointer<UInt8>
  private let curvePrecision: UnsafeMutableBufferPointer<Double>
  private let curveSizes: Int

  init(count: Int, neighbours k: Int, curveSizes: Int) {
    self.curveSizes = curveSizes
    curveOutcome = .allocate(capacity: count * curveSizes)
    curveOutcome.initialize(repeating: 0)
    curvePrecision = .allocate(capacity: count * curveSizes)
    curvePrecision.initialize(repeating: 0)
    self.count = count
    neighbourCount = k
    hits = .allocate(capacity: count)
    hits.initialize(repeating: 0)
    averagePrecision = .allocate(capacity: count)
    averagePrecision.initialize(repeating: 0)
    scored = .allocate(capacity: count)
    scored.initialize(repeating: false)
    neighbours = .allocate(capacity: count * k)
    neighbours.initialize(repeating: -1)
  }

  deinit {
    hits.deallocate()
    averagePrecision.deallocate()
    scored.deallocate()
    neighbours.deallocate()
    curveOutcome.deallocate()
    curvePrecision.deallocate()
  }

  func record(_ q: Int, _ ranking: QueryRanking) {
    guard ranking.relevantCount > 0 else { return }
    scored[q] = true
    hits[q] = ranking.hit ? 1 : 0
    averagePrecision[q] = ranking.averagePrecision
    for (slot, j) in ranking.nearest.prefix(neighbourCount).enumerated() { neighbours[q * neighbourCount + slot] = j }
    for z in 0..<curveSizes where ranking.curveScored[z] {
      curveOutcome[q * curveSizes + z] = ranking.curveHits[z] ? 2 : 1
      curvePrecision[q * curveSizes + z] = ranking.curveAveragePrecision[z]
    }
  }

  /// Per curve size: mean hit and mean average precision over its scored queries.
  private func curveMeans() -> (top1: [Double], map: [Double]) {
    var top1: [Double] = []
    var map: [Double] = []
    for z in 0..<curveSizes {
      var (hits, precision, scoredCount) = (0.0, 0.0, 0)
      for q in 0..<count where curveOutcome[q * curveSizes + z] > 0 {
        scoredCount += 1
        hits += curveOutcome[q * curveSizes + z] == 2 ? 1 : 0
        precision += curvePrecision[q * curveSizes + z]
      }
      top1.append(scoredCount == 0 ? 0 : hits / Double(scoredCount))
      map.append(scoredCount == 0 ? 0 : precision / Double(scoredCount))
    }
    return (top1, map)
  }

  func outcomes() -> QueryOutcomes {
    let (curveTop1, curveMap) = curveMeans()
    return QueryOutcomes(
      count: count, hits: Array(hits), averagePrecision: Array(averagePrecision), scored: Array(scored),
      removalEffect: Array(repeating: 0, count: count), neighbours: Array(neighbours), neighbourCount: neighbourCount,
      curveTop1: curveTop1, curveMeanAveragePrecision: curveMap)
  }
}
