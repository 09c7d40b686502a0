import BCTNumerics
import Dispatch

/// Retrieval quality of one query set against one gallery.
public struct RetrievalScores: Sendable, Codable, Equatable {
  /// Fraction of queries whose nearest gallery item shares their label.
  public var top1: Double
  /// Fraction of queries with a same-label item among the 5 nearest.
  public var top5: Double
  /// Mean over queries of average precision over the full ranking.
  public var meanAveragePrecision: Double

  public init(top1: Double, top5: Double, meanAveragePrecision: Double) {
    self.top1 = top1
    self.top5 = top5
    self.meanAveragePrecision = meanAveragePrecision
  }
}

/// Label-based retrieval metrics, with inner-product scores computed by BLAS in blocks.
public enum RetrievalMetrics {
  /// Scores unit-norm `queries` against unit-norm `gallery`. With `excludeSelf`,
  /// query `i` never retrieves gallery item `i` (the test split is both query and
  /// gallery, as in openBCT and ml-fct). Queries without any relevant item are skipped.
  public static func evaluate(
    queries: Matrix, queryLabels: [Int], gallery: Matrix, galleryLabels: [Int], excludeSelf: Bool
  ) -> RetrievalScores {
    precondition(queries.columns == gallery.columns, "queries and gallery differ in dimension")
    precondition(!excludeSelf || queries.rows == gallery.rows, "excludeSelf needs the same items on both sides")
    var counts: [Int: Int] = [:]
    for label in galleryLabels { counts[label, default: 0] += 1 }
    let labelCounts = counts
    let n = queries.rows
    let g = gallery.rows
    let results = PerQueryResults(count: n)
    let block = 256
    let workers = 2
    for start in stride(from: 0, to: n, by: block) {
      let end = min(n, start + block)
      let scores = BLAS.matmul(queries.rows(start..<end), gallery, transposeB: .transposed)
      DispatchQueue.concurrentPerform(iterations: workers) { worker in
        var relevantScores: [Float] = []
        var above: [Int] = []
        for q in stride(from: start + worker, to: end, by: workers) {
          let label = queryLabels[q]
          let relevant = (labelCounts[label] ?? 0) - (excludeSelf && galleryLabels[q] == label ? 1 : 0)
          guard relevant > 0 else { continue }
          scores.values.withUnsafeBufferPointer { s in
            let row = s.baseAddress! + (q - start) * g
            // Rank of the k-th best relevant item = k + 1 + the irrelevant items
            // scoring above it (ties go to the relevant item). Sorting only the
            // relevant scores and histogramming the rest avoids a full sort.
            relevantScores.removeAll(keepingCapacity: true)
            for j in 0..<g where galleryLabels[j] == label && !(excludeSelf && j == q) {
              relevantScores.append(row[j])
            }
            relevantScores.sort(by: >)
            above.removeAll(keepingCapacity: true)
            above.append(contentsOf: repeatElement(0, count: relevant + 1))
            relevantScores.withUnsafeBufferPointer { r in
              for j in 0..<g where galleryLabels[j] != label { above[countAtLeast(row[j], in: r)] += 1 }
            }
          }
          var irrelevantAbove = 0
          var sum = 0.0
          for k in 0..<relevant {
            irrelevantAbove += above[k]
            sum += Double(k + 1) / Double(k + 1 + irrelevantAbove)
          }
          let firstRank = 1 + above[0]
          results.store(
            q, top1: firstRank == 1 ? 1 : 0, top5: firstRank <= 5 ? 1 : 0, averagePrecision: sum / Double(relevant))
        }
      }
    }
    return results.summary()
  }
}

/// Per-query metric slots filled by concurrent workers. Each query index is
/// written by exactly one worker, so the unsynchronised writes never overlap.
private final class PerQueryResults: @unchecked Sendable {
  private let top1: UnsafeMutableBufferPointer<Double>
  private let top5: UnsafeMutableBufferPointer<Double>
  private let averagePrecision: UnsafeMutableBufferPointer<Double>
  private let counted: UnsafeMutableBufferPointer<Bool>

  init(count: Int) {
    top1 = .allocate(capacity: count)
    top5 = .allocate(capacity: count)
    averagePrecision = .allocate(capacity: count)
    counted = .allocate(capacity: count)
    for buffer in [top1, top5, averagePrecision] { buffer.initialize(repeating: 0) }
    counted.initialize(repeating: false)
  }

  deinit {
    for buffer in [top1, top5, averagePrecision] { buffer.deallocate() }
    counted.deallocate()
  }

  func store(_ q: Int, top1 t1: Double, top5 t5: Double, averagePrecision ap: Double) {
    top1[q] = t1
    top5[q] = t5
    averagePrecision[q] = ap
    counted[q] = true
  }

  func summary() -> RetrievalScores {
    let used = Double(max(counted.filter { $0 }.count, 1))
    return RetrievalScores(
      top1: top1.reduce(0, +) / used, top5: top5.reduce(0, +) / used,
      meanAveragePrecision: averagePrecision.reduce(0, +) / used)
  }
}

/// Wang & Isola's alignment and uniformity of unit-norm embeddings.
public enum EmbeddingGeometry {
  /// Mean squared distance between same-class pairs (lower is better aligned),
  /// over up to `pairs` random pairs.
  public static func alignment(_ z: Matrix, labels: [Int], pairs: Int = 20_000, seed: UInt64 = 0) -> Double {
    var byClass: [Int: [Int]] = [:]
    for (i, label) in labels.enumerated() { byClass[label, default: []].append(i) }
    let classes = byClass.values.filter { $0.count >= 2 }
    guard !classes.isEmpty else { return 0 }
    var generator = SeededGenerator(seed: seed)
    var sum = 0.0
    for _ in 0..<pairs {
      let members = classes[Int(generator.next() % UInt64(classes.count))]
      let a = members[Int(generator.next() % UInt64(members.count))]
      var b = members[Int(generator.next() % UInt64(members.count))]
      if a == b { b = members[(members.firstIndex(of: a)! + 1) % members.count] }
      sum += squaredDistance(z, a, b)
    }
    return sum / Double(pairs)
  }

  /// `log E exp(-2 |zi - zj|^2)` over up to `pairs` random pairs (lower is more uniform).
  public static func uniformity(_ z: Matrix, pairs: Int = 20_000, seed: UInt64 = 1) -> Double {
    guard z.rows >= 2 else { return 0 }
    var generator = SeededGenerator(seed: seed)
    var sum = 0.0
    for _ in 0..<pairs {
      let a = Int(generator.next() % UInt64(z.rows))
      var b = Int(generator.next() % UInt64(z.rows))
      if a == b { b = (b + 1) % z.rows }
      sum += _exp(-2 * squaredDistance(z, a, b))
    }
    return _log(sum / Double(pairs))
  }

  static func squaredDistance(_ z: Matrix, _ a: Int, _ b: Int) -> Double {
    var d: Float = 0
    for c in 0..<z.columns {
      let x = z[a, c] - z[b, c]
      d += x * x
    }
    return Double(d)
  }
}

#if canImport(Glibc)
import Glibc
private func _exp(_ x: Double) -> Double { Glibc.exp(x) }
private func _log(_ x: Double) -> Double { Glibc.log(x) }
#elseif canImport(Darwin)
import Darwin
private func _exp(_ x: Double) -> Double { Darwin.exp(x) }
private func _log(_ x: Double) -> Double { Darwin.log(x) }
#endif
