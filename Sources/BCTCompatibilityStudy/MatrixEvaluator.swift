import BCTData
import BCTEvaluation
import BCTModelRepository
import BCTNumerics

/// Retrieval scores with every embedding and self-score computed once.
struct Evaluator {
  let splits: [String: Dataset]
  private var embeddings: [String: Matrix] = [:]
  private var cache: [String: RetrievalScores] = [:]

  init(splits: [String: Dataset]) { self.splits = splits }

  /// `model`'s unit-norm embeddings of `split` restricted to `classes`, with the labels.
  mutating func embedded(_ model: ModelVersion, split: String, classes: [Int]?) -> (Matrix, [Int]) {
    let scope = "\(split)|\(classes.map { $0.map(String.init).joined(separator: ",") } ?? "all")"
    var data = splits[split]!
    if let classes { data = data.keepingClasses(Set(classes)) }
    return (embed(model, data, scope), data.labels)
  }

  /// Examples of `split` restricted to `classes`.
  func count(split: String, classes: [Int]?) -> Int {
    guard let data = splits[split] else { return 0 }
    return classes.map { data.keepingClasses(Set($0)).count } ?? data.count
  }

  /// Queries embedded by `query` against documents embedded by `gallery` on
  /// `split` restricted to `classes`, self-match excluded.
  mutating func scores(_ query: ModelVersion, _ gallery: ModelVersion, split: String, classes: [Int]?) -> RetrievalScores {
    let scope = "\(split)|\(classes.map { $0.map(String.init).joined(separator: ",") } ?? "all")"
    let key = "\(query.manifest.head.fingerprint)|\(query.version)|\(gallery.manifest.head.fingerprint)|\(gallery.version)|\(scope)"
    if let cached = cache[key] { return cached }
    var data = splits[split]!
    if let classes { data = data.keepingClasses(Set(classes)) }
    let q = embed(query, data, scope)
    let g = embed(gallery, data, scope)
    let result = RetrievalMetrics.evaluate(
      queries: q, queryLabels: data.labels, gallery: g, galleryLabels: data.labels, excludeSelf: true)
    cache[key] = result
    return result
  }

  private mutating func embed(_ model: ModelVersion, _ data: Dataset, _ scope: String) -> Matrix {
    let key = "\(model.manifest.head.fingerprint)|\(model.version)|\(scope)"
    if let cached = embeddings[key] { return cached }
    let z = model.backbone.embed(data.inputs).l2NormalizedRows()
    embeddings[key] = z
    return z
  }
}
