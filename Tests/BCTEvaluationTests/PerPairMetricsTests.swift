import BCTEvaluation
import BCTModelRepository
import BCTNumerics
import Foundation
import Testing

/// Per-pair relevance metrics against values computed by hand, and the qrels
/// certificate's rule.
@Suite("Per-pair relevance: recall, MRR, nDCG, AP, P@1 and the qrels certificate")
struct PerPairMetricsTests {
  /// Unit vectors whose first coordinate is each score against the query (1, 0).
  static let gallery: Matrix = {
    let scores: [Float] = [0.9, 0.8, 0.7, 0.6]
    return Matrix(rows: 4, columns: 2, values: scores.flatMap { [$0, (1 - $0 * $0).squareRoot()] })
  }()

  @Test("three queries, graded judgments, cut at 3: every figure equals the hand-computed one")
  func handComputed() {
    let queries = Matrix(rows: 3, columns: 2, values: [1, 0, 0, 1, 1, 0])
    // q0 ranks d0 d1 d2 d3 and judges d1 (grade 2) and d3 (grade 1); q1 ranks d3 first
    // and judges only d3; q2 has no relevant document and is left out.
    let judgments = RelevanceJudgments(grades: [[1: 2, 3: 1], [3: 1], [2: 0]])
    let s = PerPairScores.evaluate(queries: queries, gallery: Self.gallery, judgments: judgments, cutoff: 3)
    #expect(s.scored == [true, true, false])
    #expect(s.precisionAt1[0] == 0 && s.precisionAt1[1] == 1)
    #expect(abs(s.averagePrecision[0] - (1.0 / 2 + 2.0 / 4) / 2) < 1e-12)
    #expect(s.recall[0] == 0.5 && s.reciprocalRank[0] == 0.5)
    let dcg = 2 / log2(3.0)
    let ideal = 2 / log2(2.0) + 1 / log2(3.0)
    #expect(abs(s.ndcg[0] - dcg / ideal) < 1e-12 && abs(s.ndcg[0] - 0.479_62) < 1e-5)
    #expect(s.recall[1] == 1 && s.reciprocalRank[1] == 1 && s.ndcg[1] == 1 && s.averagePrecision[1] == 1)
    #expect(abs(s.mean(s.ndcg) - (dcg / ideal + 1) / 2) < 1e-12 && s.mean(s.precisionAt1) == 0.5)
    #expect(s.named.map(\.name) == ["top-1", "mAP", "recall@3", "MRR@3", "nDCG@3"])
  }

  @Test("ties go to the lower gallery index; a relevant document past the cut counts in AP only")
  func tiesAndCut() {
    let gallery = Matrix(rows: 3, columns: 2, values: [1, 0, 1, 0, 0, 1])
    let s = PerPairScores.evaluate(
      queries: Matrix(rows: 1, columns: 2, values: [1, 0]), gallery: gallery,
      judgments: RelevanceJudgments(grades: [[1: 1, 2: 1]]), cutoff: 1)
    #expect(s.precisionAt1 == [0] && s.recall == [0] && s.reciprocalRank == [0] && s.ndcg == [0])
    #expect(abs(s.averagePrecision[0] - (1.0 / 2 + 2.0 / 3) / 2) < 1e-12)
  }

  @Test("the qrels certificate bounds recall@10 and nDCG@10; a cross search no better than old/old is refused")
  func certificateRule() {
    var generator = SeededGenerator(seed: 3)
    func unit(_ rows: Int) -> Matrix {
      Matrix(rows: rows, columns: 8, values: (0..<(rows * 8)).map { _ in Float.random(in: -1...1, using: &generator) }).l2NormalizedRows()
    }
    let (docs, queries) = (unit(60), unit(30))
    let judgments = RelevanceJudgments(grades: (0..<30).map { q in [q: 1, (q + 30) % 60: 2] })
    let settings = CompatibilityCertifier.Settings(marginPoints: 0.5, confidence: 0.95, resamples: 200, seed: 1)
    let same = QrelsCertifier.certificate(
      old: ("a", String(repeating: "0", count: 64)), oldOld: (queries, docs), cross: (queries, docs), newNew: (queries, docs),
      judgments: judgments, dataset: "synthetic", split: "all", settings: settings)
    #expect(same.verdict == .uncertified && same.bounds?.relevance == "qrels")
    #expect(same.bounds?.steps.map(\.name) == CertificateBounds.requiredQrelsSteps)
    #expect(same.reasons.contains { $0.hasPrefix("recall@10 cross gain") } && same.perPair?["MRR@10"] != nil)
    #expect(same.examples == 30 && same.bounds?.catalogueSize == 60)
    let again = QrelsCertifier.certificate(
      old: ("a", String(repeating: "0", count: 64)), oldOld: (queries, docs), cross: (queries, docs), newNew: (queries, docs),
      judgments: judgments, dataset: "synthetic", split: "all", settings: settings)
    #expect(again.bounds == same.bounds, "deterministic under a seed")
  }
}
