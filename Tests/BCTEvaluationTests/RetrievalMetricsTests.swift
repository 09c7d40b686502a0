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
