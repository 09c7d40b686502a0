import BCTNumerics

/// One search result: a document id and its inner-product score.
public struct ScoredID: Sendable, Equatable {
  /// The document id.
  public var id: String
  /// Inner product of query and document vector (cosine for unit vectors).
  public var score: Float

  /// A result.
  public init(id: String, score: Float) {
    self.id = id
    self.score = score
  }

  /// Ranking order: higher score first, then smaller id, so ties are deterministic.
  public static func ranksBefore(_ a: ScoredID, _ b: ScoredID) -> Bool {
    a.score != b.score ? a.score > b.score : a.id < b.id
  }
}

/// The small interface every index keeps (as Faiss's `Index`): add vectors under
/// ids, remove ids, search the k best by inner product.
public protocol VectorIndex: Sendable {
  /// Length of every vector.
  var dimension: Int { get }
  /// Number of vectors held.
  var count: Int { get }
  /// Adds one vector per id (rows of `vectors`); an id already present is replaced.
  mutating func add(ids: [String], vectors: Matrix)
  /// Removes the ids that are present; returns how many were.
  @discardableResult mutating func remove(ids: [String]) -> Int
  /// For each query row, the `k` best ids by inner product, best first.
  func search(_ queries: Matrix, k: Int) -> [[ScoredID]]
  /// The vector stored for `id`, if any.
  func vector(for id: String) -> [Float]?
  /// Bytes of vector storage.
  var vectorBytes: Int { get }
}
