import BCTNumerics
import Dispatch
import Foundation

/// Retrieval metrics under per-pair relevance (BEIR, TREC): each query against a
/// separate gallery of documents, judged by `RelevanceJudgments`. The ranking is by
/// inner product, descending, ties broken by gallery index. Queries without a
/// relevant document are left out of every mean. Per query, so that a certificate
/// can resample queries without searching again.
public struct PerPairScores: Sendable, Equatable {
  /// Whether query q has a relevant document (it is scored).
  public var scored: [Bool]
  /// 1 when the first document is relevant.
  public var precisionAt1: [Double]
  /// Average precision over the whole ranking (mean of the precision at each relevant document).
  public var averagePrecision: [Double]
  /// Relevant documents in the first `cutoff`, over all relevant documents.
  public var recall: [Double]
  /// 1 / rank of the first relevant document within the first `cutoff`, else 0.
  public var reciprocalRank: [Double]
  /// DCG over the first `cutoff` (gain = grade, discount log2(rank + 1), as trec_eval's
  /// ndcg_cut) over the ideal ordering's.
  public var ndcg: [Double]
  /// The rank cut of recall, MRR and nDCG.
  public let cutoff: Int

  /// The metric names and per-query values a certificate reports and bounds.
  public var named: [(name: String, values: [Double])] {
    [("top-1", precisionAt1), ("mAP", averagePrecision), ("recall@\(cutoff)", recall), ("MRR@\(cutoff)", reciprocalRank),
     ("nDCG@\(cutoff)", ndcg)]
  }

  /// The mean of `values` over scored queries (the ones in `sample`, with repeats, when given).
  public func mean(_ values: [Double], sample: [Int]? = nil) -> Double {
    var (sum, n) = (0.0, 0)
    for q in sample ?? Array(values.indices) where scored[q] {
      sum += values[q]
      n += 1
    }
    return n == 0 ? 0 : sum / Double(n)
  }

  /// Scores of unit-norm `queries` against unit-norm `gallery` under `judgments`
  /// (one list per query row).
  public static func evaluate(queries: Matrix, gallery: Matrix, judgments: RelevanceJudgments, cutoff: Int = 10) -> PerPairScores {
    precondition(queries.columns == gallery.columns && judgments.grades.count == queries.rows, "queries and judgments describe the same queries")
    let n = queries.rows
    var out = PerPairScores(
      scored: Array(repeating: false, count: n), precisionAt1: Array(repeating: 0, count: n),
      averagePrecision: Array(repeating: 0, count: n), recall: Array(repeating: 0, count: n),
      reciprocalRank: Array(repeating: 0, count: n), ndcg: Array(repeating: 0, count: n), cutoff: cutoff)
    let block = 256
    for start in stride(from: 0, to: n, by: block) {
      let end = min(n, start + block)
      let scores = BLAS.matmul(queries.rows(start..<end), gallery, transposeB: .transposed)
      for q in start..<end {
        let row = Array(scores.values[((q - start) * gallery.rows)..<((q - start + 1) * gallery.rows)])
        out.score(q, row: row, grades: judgments.grades[q])
      }
    }
    return out
  }

  /// Fills query `q`'s values from its scores against every document.
  private mutating func score(_ q: Int, row: [Float], grades: [Int: Int]) {
    guard !grades.isEmpty else { return }
    scored[q] = true
    // Rank (1-based) of each relevant document: documents scoring higher, or equal with a lower index, plus one.
    let ranks = grades.keys.map { d -> (rank: Int, doc: Int) in
      let s = row[d]
      var above = 0
      for (j, other) in row.enumerated() where other > s || (other == s && j < d) { above += 1 }
      return (above + 1, d)
    }.sorted { $0.rank < $1.rank }
    precisionAt1[q] = ranks.first?.rank == 1 ? 1 : 0
    averagePrecision[q] = ranks.enumerated().reduce(0) { $0 + Double($1.offset + 1) / Double($1.element.rank) } / Double(ranks.count)
    let within = ranks.filter { $0.rank <= cutoff }
    recall[q] = Double(within.count) / Double(ranks.count)
    reciprocalRank[q] = within.first.map { 1 / Double($0.rank) } ?? 0
    let dcg = within.reduce(0) { $0 + Double(grades[$1.doc] ?? 0) / log2(Double($1.rank) + 1) }
    let ideal = grades.values.sorted(by: >).prefix(cutoff).enumerated().reduce(0) { $0 + Double($1.element) / log2(Double($1.offset) + 2) }
    ndcg[q] = ideal > 0 ? dcg / ideal : 0
  }
}
