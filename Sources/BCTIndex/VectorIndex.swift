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

/// What one search may tune; indexes ignore what does not apply to them.
public struct SearchOptions: Sendable, Equatable {
  /// HNSW candidate list size (nil: the index's default). Raised to k when smaller.
  public var efSearch: Int?
  /// The largest reply the caller will send (nil: no limit). Stores that fetch
  /// each hit's metadata from elsewhere check it before and while they fetch.
  public var maxReplyBytes: Int?

  /// Options with the given settings.
  public init(efSearch: Int? = nil, maxReplyBytes: Int? = nil) {
    self.efSearch = efSearch
    self.maxReplyBytes = maxReplyBytes
  }
}

/// How an index is built, reported per segment by Stats.
public struct IndexDescription: Sendable, Equatable {
  /// "flat", "flat-sq8", "flat-f16" or "hnsw".
  public var kind: String
  /// HNSW parameters (nil for flat).
  public var hnsw: HNSWParameters?
  /// Bytes the index holds (vectors, graph, id tables).
  public var memoryBytes: Int
  /// HNSW nodes marked deleted and not yet reused.
  public var deletedNodes: Int

  /// A description.
  public init(kind: String, hnsw: HNSWParameters?, memoryBytes: Int, deletedNodes: Int) {
    self.kind = kind
    self.hnsw = hnsw
    self.memoryBytes = memoryBytes
    self.deletedNodes = deletedNodes
  }
}

/// The interface every index keeps (as Faiss's `Index`): add or replace vectors
/// under ids, remove ids, search the k best by inner product into a top-k that
/// several indexes can share, count, and serialise.
public protocol VectorIndex: Sendable {
  /// Length of every vector.
  var dimension: Int { get }
  /// Number of vectors held.
  var count: Int { get }
  /// Adds one vector per id (rows of `vectors`), each under its key (`keys`, one per
  /// id, for filters that test keys; nil: none); an id already present is replaced; of
  /// an id given twice, the last row wins.
  mutating func add(ids: [String], vectors: Matrix, keys: [Int]?)
  /// Sets the key of every vector held to `key(id)` (nil: none).
  mutating func setKeys(_ key: (String) -> Int?)
  /// Removes the ids that are present; returns how many were.
  @discardableResult mutating func remove(ids: [String]) -> Int
  /// Offers each query row's best candidates to that row's selection (which
  /// keeps the best `k` of everything offered), so several indexes merge into
  /// one ranking; with a filter, only ids it passes.
  func search(_ queries: Matrix, into selections: inout [TopK], options: SearchOptions, filter: IDFilter?)
  /// The vector stored for `id`, if any.
  func vector(for id: String) -> [Float]?
  /// Every id held, in a stable order.
  var allIDs: [String] { get }
  /// Bytes of vector storage.
  var vectorBytes: Int { get }
  /// Kind, parameters and memory.
  var description: IndexDescription { get }
  /// A copy for persistence that holds no search structure shared with this
  /// index (cheap: vector storage is copy-on-write), so that encoding it may run
  /// while this index keeps changing.
  func detached() -> any VectorIndex
  /// A copy holding only what the live vectors need, when removals left this
  /// one holding much more (freed capacity, deleted graph nodes); nil otherwise.
  func compacted() -> (any VectorIndex)?
}

extension VectorIndex {
  /// Adds one vector per id, without keys.
  public mutating func add(ids: [String], vectors: Matrix) {
    add(ids: ids, vectors: vectors, keys: nil)
  }

  /// For each query row, the `k` best ids by inner product (of those `filter` passes), best first.
  public func search(_ queries: Matrix, k: Int, options: SearchOptions = SearchOptions(), filter: IDFilter? = nil) -> [[ScoredID]] {
    var selections = (0..<queries.rows).map { _ in TopK(k: min(k, count)) }
    search(queries, into: &selections, options: options, filter: filter)
    return selections.map { $0.sorted() }
  }

  /// Offers each query row's best candidates to that row's selection, unfiltered.
  public func search(_ queries: Matrix, into selections: inout [TopK], options: SearchOptions) {
    search(queries, into: &selections, options: options, filter: nil)
  }
}

/// Which index a version segment uses.
public enum IndexKind: Sendable, Equatable {
  /// Exact inner product (`FlatIndex`).
  case flat
  /// Approximate, bct's HNSW graph (`HNSWIndex`).
  case hnsw(HNSWParameters)
  /// Exact scores of candidates found in a compressed scan (`QuantizedFlatIndex`).
  case quantized(VectorEncoding)

  /// An empty index of this kind.
  public func make(dimension: Int) -> any VectorIndex {
    switch self {
    case .flat: FlatIndex(dimension: dimension)
    case .hnsw(let parameters): HNSWIndex(dimension: dimension, parameters: parameters)
    case .quantized(let encoding): QuantizedFlatIndex(dimension: dimension, encoding: encoding)
    }
  }

  /// "flat", "flat-sq8", "flat-f16" or "hnsw(M=16,efConstruction=200,efSearch=64)".
  public var name: String {
    switch self {
    case .flat: "flat"
    case .quantized(let encoding): "flat-\(encoding.rawValue)"
    case .hnsw(let p): "hnsw(M=\(p.m),efConstruction=\(p.efConstruction),efSearch=\(p.efSearch))"
    }
  }
}
