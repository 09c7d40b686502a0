import BCTData
import BCTEvaluation
import BCTNumerics
import Foundation

/// Per-pair relevance for `bct adapt` (as BEIR gives it): the same items embedded by
/// two models, row for row, named by `ids`; some items are queries, some documents,
/// and qrels grade (query, document) pairs. Items carry no classes, so adapters are
/// chosen by how well each mapped item finds its own counterpart, and certified by
/// recall@10 and nDCG@10 on held-out queries.
public struct QrelsPairs: Sendable {
  /// Both models' embeddings (unit rows); `labels` number the rows (each its own item).
  public var pairs: EmbeddingPairs
  /// Rows of the queries and of the documents.
  public var queryRows: [Int]
  public var documentRows: [Int]
  /// Per query (position in `queryRows`): document position in `documentRows` -> grade.
  public var judgments: RelevanceJudgments
  /// Judgments naming an id not among the queries or documents (left out).
  public var ignoredJudgments: Int

  /// The held-out part: queries and documents by both models, and their judgments.
  public struct Validation: Sendable {
    public var queries: (old: Matrix, new: Matrix)
    public var documents: (old: Matrix, new: Matrix)
    public var judgments: RelevanceJudgments
  }

  /// Reads the embedding files, the ids (one per row), the query and document ids
  /// (one per line) and the qrels (query id, document id, grade; tab or space
  /// separated; a header line is skipped).
  public static func read(
    old: String, new: String, ids idsPath: String, queries: String, documents: String, qrels: String
  ) throws -> QrelsPairs {
    let ids = try lines(idsPath)
    var row: [String: Int] = [:]
    for (r, id) in ids.enumerated() {
      guard row.updateValue(r, forKey: id) == nil else { throw DataError(path: idsPath, "id \(id) appears twice") }
    }
    let unlabelled = try EmbeddingPairs.read(old: old, new: new, labels: nil)
    guard ids.count == unlabelled.old.rows else {
      throw DataError(path: idsPath, "\(ids.count) ids for \(unlabelled.old.rows) embedding rows; one id per row")
    }
    func rows(_ path: String) throws -> [Int] {
      try lines(path).map { id in
        guard let r = row[id] else { throw DataError(path: path, "id \(id) is not in \(idsPath)") }
        return r
      }
    }
    let (queryRows, documentRows) = (try rows(queries), try rows(documents))
    let (judgments, ignored) = try judgments(qrels, queryRows: queryRows, documentRows: documentRows, ids: ids)
    let judged = judgments.grades.filter { !$0.isEmpty }.count
    guard judged >= 2 else {
      throw DataError(path: qrels, "\(judged) queries of \(queries) have a relevant (grade > 0) document of \(documents); at least 2 are needed to fit and certify")
    }
    return QrelsPairs(
      pairs: unlabelled, queryRows: queryRows, documentRows: documentRows, judgments: judgments, ignoredJudgments: ignored)
  }

  /// The non-empty lines of a text file, trimmed.
  static func lines(_ path: String) throws -> [String] {
    guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw DataError(path: path, "cannot read it as UTF-8 text") }
    return text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
  }

  private static func judgments(
    _ path: String, queryRows: [Int], documentRows: [Int], ids: [String]
  ) throws -> (RelevanceJudgments, Int) {
    var queryPosition: [String: Int] = [:]
    for (p, r) in queryRows.enumerated() { queryPosition[ids[r]] = p }
    var documentPosition: [String: Int] = [:]
    for (p, r) in documentRows.enumerated() { documentPosition[ids[r]] = p }
    var grades = Array(repeating: [Int: Int](), count: queryRows.count)
    var ignored = 0
    for (n, line) in try lines(path).enumerated() {
      let fields = line.split(whereSeparator: { $0 == "\t" || $0 == " " }).map(String.init)
      guard fields.count == 3, let grade = Int(fields[2]) else {
        if n == 0 { continue }
        throw DataError(path: path, "line \(n + 1) is \"\(line.prefix(80))\"; expected query id, document id, integer grade")
      }
      guard let q = queryPosition[fields[0]], let d = documentPosition[fields[1]] else {
        ignored += 1
        continue
      }
      grades[q][d] = grade
    }
    return (RelevanceJudgments(grades: grades), ignored)
  }

  /// Calibration pairs and the validation part. `fraction` of the judged queries
  /// (chosen by `seed`) are held out with every document judged for them and the same
  /// fraction of the other documents; calibration is every row not held out.
  public func split(fraction: Double, seed: UInt64) -> (calibration: PairAdaptation.Embeddings, validation: Validation) {
    let judged = judgments.grades.indices.filter { !judgments.grades[$0].isEmpty }
    let picked = Dataset.validationIndices(count: judged.count, fraction: fraction, seed: seed).validation.map { judged[$0] }
    var heldDocuments = Set(picked.flatMap { judgments.grades[$0].keys })
    let others = documentRows.indices.filter { !heldDocuments.contains($0) }
    for i in Dataset.validationIndices(count: others.count, fraction: fraction, seed: seed ^ 0xD0C5).validation {
      heldDocuments.insert(others[i])
    }
    let documents = heldDocuments.sorted()
    let heldRows = Set(picked.map { queryRows[$0] } + documents.map { documentRows[$0] })
    let calibration = pairs.rows((0..<pairs.labels.count).filter { !heldRows.contains($0) })
    let (q, d) = (picked.map { queryRows[$0] }, documents.map { documentRows[$0] })
    return (calibration, Validation(
      queries: (pairs.old.gatherRows(q), pairs.new.gatherRows(q)), documents: (pairs.old.gatherRows(d), pairs.new.gatherRows(d)),
      judgments: judgments.restricted(queries: picked, documents: documents)))
  }
}
