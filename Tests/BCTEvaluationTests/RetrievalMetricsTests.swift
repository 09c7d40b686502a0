import BCTEvaluation
import BCTNumerics
import Testing

@Suite("Retrieval metrics")
struct RetrievalMetricsTests {
  /// Unit vectors at the given angles (radians) in 2-D.
  static func points(_ angles: [Float]) -> Matrix {
    Matrix(rows: angles.count, columns: 2, values: angles.flatMap { [cosf($0), sinf($0)] })
  }

  @Test("hand-computed top-1, top-5 and average precision")
  func handComputed() {
    // Gallery: 4 items; the query's label 1 is held by items at rank 2 and 4.
    let gallery = Self.points([0.1, 0.2, 0.3, 0.4])
    let query = Self.points([0])
    let scores = RetrievalMetrics.evaluate(
      queries: query, queryLabels: [1], gallery: gallery, galleryLabels: [0, 1, 0, 1], excludeSelf: false)
    #expect(scores.top1 == 0)
    #expect(scores.top5 == 1)
    #expect(abs(scores.meanAveragePrecision - (1.0 / 2 + 2.0 / 4) / 2) < 1e-9)
  }

  @Test("self-matches are excluded when the split is both query and gallery")
  func excludeSelf() {
    let z = Self.points([0, 0.01, 1.5, 1.51])
    let labels = [0, 1, 1, 0]
    let without = RetrievalMetrics.evaluate(queries: z, queryLabels: labels, gallery: z, galleryLabels: labels, excludeSelf: true)
    let with = RetrievalMetrics.evaluate(queries: z, queryLabels: labels, gallery: z, galleryLabels: labels, excludeSelf: false)
    #expect(with.top1 == 1)
    #expect(without.top1 == 0, "each item's nearest other item has the other label")
  }

  @Test("a perfect embedding scores 1 everywhere; queries without relevant items are skipped")
  func perfect() {
    let z = Self.points([0, 0, 0, 3, 3, 3, 1.5])
    let labels = [0, 0, 0, 1, 1, 1, 2]
    let scores = RetrievalMetrics.evaluate(queries: z, queryLabels: labels, gallery: z, galleryLabels: labels, excludeSelf: true)
    #expect(scores == RetrievalScores(top1: 1, top5: 1, meanAveragePrecision: 1))
  }

  /// Full-sort reference: rank every gallery item, then top-1, top-5 and AP.
  static func reference(_ q: Matrix, _ ql: [Int], _ g: Matrix, _ gl: [Int], excludeSelf: Bool) -> RetrievalScores {
    let scores = BLAS.matmul(q, g, transposeB: .transposed)
    var (t1, t5, ap, counted) = (0.0, 0.0, 0.0, 0)
    for i in 0..<q.rows {
      let ranked = (0..<g.rows).filter { !(excludeSelf && $0 == i) }.map { (scores[i, $0], gl[$0] == ql[i]) }
        .sorted { $0.0 > $1.0 }
      let relevant = ranked.filter(\.1).count
      guard relevant > 0 else { continue }
      counted += 1
      t1 += ranked[0].1 ? 1 : 0
      t5 += ranked.prefix(5).contains { $0.1 } ? 1 : 0
      var hits = 0.0
      for (rank, item) in ranked.enumerated() where item.1 {
        hits += 1
        ap += hits / Double(rank + 1) / Double(relevant)
      }
    }
    let n = Double(counted)
    return RetrievalScores(top1: t1 / n, top5: t5 / n, meanAveragePrecision: ap / n)
  }

  @Test("equals a full-sort reference on random embeddings (cross-model and self-excluded)")
  func matchesReference() {
    var generator = SeededGenerator(seed: 11)
    let a = Matrix.gaussian(rows: 300, columns: 8, std: 1, using: &generator).l2NormalizedRows()
    let b = Matrix.gaussian(rows: 300, columns: 8, std: 1, using: &generator).l2NormalizedRows()
    let labels = (0..<300).map { ($0 * 7) % 5 }
    for (queries, gallery) in [(a, a), (a, b)] {
      let fast = RetrievalMetrics.evaluate(queries: queries, queryLabels: labels, gallery: gallery, galleryLabels: labels, excludeSelf: true)
      let slow = Self.reference(queries, labels, gallery, labels, excludeSelf: true)
      #expect(abs(fast.top1 - slow.top1) < 1e-12 && abs(fast.top5 - slow.top5) < 1e-12)
      // Blocked and whole-matrix sgemm may differ in the last bit, which can swap near-tied ranks.
      #expect(abs(fast.meanAveragePrecision - slow.meanAveragePrecision) < 1e-5)
    }
  }

  @Test("alignment and uniformity: collapsed classes align perfectly, spread points are more uniform")
  func geometry() {
    let collapsed = Self.points([0, 0, 2, 2])
    #expect(EmbeddingGeometry.alignment(collapsed, labels: [0, 0, 1, 1]) == 0)
    let spread = Self.points((0..<64).map { Float($0) * 0.098 })
    let clumped = Self.points((0..<64).map { Float($0) * 0.001 })
    #expect(EmbeddingGeometry.uniformity(spread) < EmbeddingGeometry.uniformity(clumped))
    #expect(abs(EmbeddingGeometry.uniformity(Self.points([1, 1, 1]))) < 1e-9)
  }
}

#if canImport(Glibc)
import Glibc
#endif
