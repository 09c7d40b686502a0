/// Graded relevance of documents to queries, as BEIR's qrels give it: for each
/// query (by index), the documents (by gallery index) with a grade above zero.
/// Documents not listed are irrelevant.
public struct RelevanceJudgments: Sendable, Equatable {
  /// Per query: gallery index -> grade (> 0).
  public var grades: [[Int: Int]]

  public init(grades: [[Int: Int]]) {
    self.grades = grades.map { $0.filter { $0.value > 0 } }
  }

  /// The judgments of the queries at `queries` (in that order) over the documents
  /// at `documents`, renumbered to their positions there; documents left out are
  /// dropped from every query's list.
  public func restricted(queries: [Int], documents: [Int]) -> RelevanceJudgments {
    var position: [Int: Int] = [:]
    for (p, d) in documents.enumerated() { position[d] = p }
    return RelevanceJudgments(grades: queries.map { q in
      var kept: [Int: Int] = [:]
      for (d, grade) in grades[q] { if let p = position[d] { kept[p] = grade } }
      return kept
    })
  }
}
