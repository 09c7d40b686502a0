import BCTModelRepository
import BCTNumerics

/// The criterion M(Q_new,D_new) > M(Q_new,D_old) > M(Q_old,D_old) measured on one
/// split for one (old, new) pair, query by query, at the whole split and at smaller
/// galleries drawn from it: everything `CriterionBootstrap` resamples.
public struct PairEvaluation: Sendable {
  /// Item labels (every item is a query and a document).
  public let labels: [Int]
  /// Old queries on old documents, new queries on old documents, new on new.
  public let oldOld: QueryOutcomes
  public let newOld: QueryOutcomes
  public let newNew: QueryOutcomes
  /// Gallery sizes of the curve, smallest first; the last is the whole split.
  public let curveSizes: [Int]
  /// The criterion at each curve size (every query against the first `size`
  /// documents of a seeded random order).
  public let curve: [CertificateBounds.CurvePoint]
  /// Each item's place in that order: the gallery of size s is the items with position < s.
  public let positions: [Int32]
  /// How much more new queries crowd onto few old documents than either model's
  /// queries crowd onto its own: Kish's design effect of the cross-model basins over
  /// the larger same-model one, at least 1 (see `basins`).
  public var hubDesignEffect: Double {
    let reference = max(Self.basins(oldOld).designEffect, Self.basins(newNew).designEffect, 1)
    return max(1, Self.basins(newOld).designEffect / reference)
  }

  /// Nearest documents kept per query: enough that a resampled, subsampled gallery
  /// practically always contains one of them.
  public static let neighbourCount = 128

  /// Evaluates unit-norm `old` and `new` embeddings of the same items, labelled
  /// `labels`, drawing the curve's nested galleries with `seed`. The cross-model
  /// search is new queries on old documents unless `cross` names other embeddings
  /// of the same items: adapted queries on old documents, or new queries on
  /// transformed old documents.
  public static func measure(
    old: Matrix, new: Matrix, labels: [Int], seed: UInt64, cross: (queries: Matrix, gallery: Matrix)? = nil
  ) -> PairEvaluation {
    let n = labels.count
    var generator = SeededGenerator(seed: seed ^ 0x6761_6C6C_6572_7921)
    let order = Array(0..<n).shuffled(using: &generator)
    var positions = Array(repeating: Int32(0), count: n)
    for (position, item) in order.enumerated() { positions[item] = Int32(position) }
    let sizes = curveSizes(for: n)
    let smaller = QueryRanking.GalleryCurve(positions: positions, sizes: Array(sizes.dropLast()))
    func outcomes(_ q: Matrix, _ g: Matrix) -> QueryOutcomes {
      QueryOutcomes.measure(queries: q, gallery: g, labels: labels, neighbours: neighbourCount, curve: smaller)
    }
    let (oo, no, nn) = (outcomes(old, old), outcomes(cross?.queries ?? new, cross?.gallery ?? old), outcomes(new, new))
    func figures(_ pick: (QueryOutcomes) -> Double) -> CompatibilityCertificate.Figures {
      .init(oldOld: pick(oo), newOld: pick(no), newNew: pick(nn))
    }
    var curve = smaller.sizes.indices.map { z in
      CertificateBounds.CurvePoint(
        gallerySize: sizes[z], top1: figures { $0.curveTop1[z] },
        meanAveragePrecision: figures { $0.curveMeanAveragePrecision[z] })
    }
    curve.append(.init(gallerySize: n, top1: figures(\.top1), meanAveragePrecision: figures(\.meanAveragePrecision)))
    return PairEvaluation(
      labels: labels, oldOld: oo, newOld: no, newNew: nn, curveSizes: sizes, curve: curve, positions: positions)
  }

  /// Halvings of `n` down to 1/8 that keep at least 200 documents, then `n`.
  static func curveSizes(for n: Int) -> [Int] {
    [n / 8, n / 4, n / 2].filter { $0 >= 200 } + [n]
  }

  /// How concentrated the nearest documents of `outcomes` are: the share of scored
  /// queries in the largest "basin" (the queries sharing one nearest document) and
  /// Kish's design effect, sum of squared basin sizes over the queries (1 when every
  /// query has its own nearest document). A large cross-model value means top-1
  /// is decided by a few hub documents.
  public static func basins(_ outcomes: QueryOutcomes) -> (largestShare: Double, designEffect: Double) {
    var sizes: [Int32: Int] = [:]
    var queries = 0
    for q in 0..<outcomes.count where outcomes.scored[q] && outcomes.neighbourCount > 0 {
      let nearest = outcomes.neighbours[q * outcomes.neighbourCount]
      guard nearest >= 0 else { continue }
      sizes[nearest, default: 0] += 1
      queries += 1
    }
    guard queries > 0 else { return (0, 1) }
    let squares = sizes.values.reduce(0.0) { $0 + Double($1) * Double($1) }
    return (Double(sizes.values.max() ?? 0) / Double(queries), squares / Double(queries))
  }

  /// The point figures on the whole split.
  public var top1: CompatibilityCertificate.Figures { curve[curve.count - 1].top1 }
  public var meanAveragePrecision: CompatibilityCertificate.Figures { curve[curve.count - 1].meanAveragePrecision }
}

/// Least-squares slope of `values` against log2 of `sizes` (0 with fewer than two sizes).
func slopePerDoubling(sizes: [Int], values: [Double]) -> Double {
  guard sizes.count >= 2 else { return 0 }
  let x = sizes.map { log2(Double($0)) }
  let mx = x.reduce(0, +) / Double(x.count)
  let my = values.reduce(0, +) / Double(values.count)
  var sxy = 0.0
  var sxx = 0.0
  for (xi, yi) in zip(x, values) {
    sxy += (xi - mx) * (yi - my)
    sxx += (xi - mx) * (xi - mx)
  }
  return sxx > 0 ? sxy / sxx : 0
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
