import ArgumentParser
import BCTAdapterFitting
import BCTAdapters
import BCTEvaluation
import BCTModelRepository
import BCTNumerics
import Foundation

/// `bct eval --qrels`: retrieval under per-pair relevance, from two models' embeddings.
struct PerPairOptions: ParsableArguments {
  @Option(help: "With --qrels: the old model's embeddings of every item (.npy).") var oldEmbeddings: String?
  @Option(help: "With --qrels: the new model's embeddings of the same items, row for row.") var newEmbeddings: String?
  @Option(help: "With --qrels: the id of each embedding row, one per line.") var ids: String?
  @Option(help: "With --qrels: the query ids, one per line.") var queries: String?
  @Option(help: "With --qrels: the document ids, one per line.") var documents: String?
  @Option(help: "BEIR qrels (query id, document id, grade per line): evaluate under per-pair relevance.") var qrels: String?
  @Option(help: "With --qrels: the old version's folder, to evaluate the new version's adapters to it.") var old: String?
  @Option(help: "With --qrels: the new version's folder holding those adapters.") var new: String?

  func validate() throws {
    guard qrels != nil else {
      let stray = [oldEmbeddings, newEmbeddings, ids, queries, documents, old, new].contains { $0 != nil }
      if stray { throw ValidationError("--old-embeddings, --new-embeddings, --ids, --queries, --documents, --old and --new go with --qrels") }
      return
    }
    guard oldEmbeddings != nil, newEmbeddings != nil, ids != nil, queries != nil, documents != nil else {
      throw ValidationError("--qrels needs --old-embeddings, --new-embeddings, --ids, --queries and --documents")
    }
    guard (old == nil) == (new == nil) else { throw ValidationError("--old and --new go together") }
  }

  /// One search: its name and its queries and gallery.
  typealias Search = (name: String, queries: Matrix, gallery: Matrix)

  func run(json: Bool) throws {
    guard let oldEmbeddings, let newEmbeddings, let ids, let queries, let documents, let qrels else { return }
    let data = try QrelsPairs.read(old: oldEmbeddings, new: newEmbeddings, ids: ids, queries: queries, documents: documents, qrels: qrels)
    let (q, d) = (data.queryRows, data.documentRows)
    let (qa, qb) = (data.pairs.old.gatherRows(q), data.pairs.new.gatherRows(q))
    let (da, db) = (data.pairs.old.gatherRows(d), data.pairs.new.gatherRows(d))
    var searches: [Search] = [("Q_old D_old", qa, da)]
    if qb.columns == da.columns { searches.append(("Q_new D_old", qb, da)) }
    for (direction, adapter) in try adapters() {
      let cross = direction.crossSearch(adapter, old: da, new: qb)
      searches.append((direction == .query ? "P(Q_new) D_old" : "Q_new T(D_old)", cross.queries, cross.gallery))
    }
    searches.append(("Q_new D_new", qb, db))
    let scored = searches.map { ($0.name, PerPairScores.evaluate(queries: $0.queries, gallery: $0.gallery, judgments: data.judgments)) }
    let rows = scored.map { name, scores in (name, scores.named.map { ($0.name, scores.mean($0.values)) }) }
    if json {
      let object = ["queries": scored.first?.1.scored.filter { $0 }.count ?? 0, "documents": d.count,
                    "ignored_judgments": data.ignoredJudgments,
                    "searches": rows.map { name, metrics in ["search": name, "metrics": Dictionary(uniqueKeysWithValues: metrics)] as [String: Any] }] as [String: Any]
      print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys]), as: UTF8.self))
      return
    }
    let judged = scored.first?.1.scored.filter { $0 }.count ?? 0
    var lines = ["Per-pair relevance: \(judged) judged queries against \(d.count) documents, in %\(data.ignoredJudgments > 0 ? " (\(data.ignoredJudgments) judgments naming other ids left out)" : ""):", ""]
    lines.append("search            " + (rows.first?.1.map { $0.0.padding(toLength: 9, withPad: " ", startingAt: 0) }.joined() ?? ""))
    for (name, metrics) in rows {
      lines.append(name.padding(toLength: 18, withPad: " ", startingAt: 0) + metrics.map { String(format: "%-9.1f", $0.1 * 100) }.joined())
    }
    print(lines.joined(separator: "\n"))
  }

  /// The new version's adapters to the old one, loaded and checked against both versions.
  private func adapters() throws -> [(AdapterDirection, EmbeddingAdapter)] {
    guard let old, let new else { return [] }
    let (a, b) = (try StoredVersion.load(from: URL(fileURLWithPath: old)), try StoredVersion.load(from: URL(fileURLWithPath: new)))
    return try AdapterDirection.allCases.compactMap { direction in
      guard let record = b.manifest.adapter(for: a.version, direction: direction.rawValue) else { return nil }
      return (direction, try AdapterFiles.load(record, in: URL(fileURLWithPath: new), old: a.weightsDigest, new: b.weightsDigest))
    }
  }
}
