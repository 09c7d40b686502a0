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

  /// Options with the given settings.
  public init(efSearch: Int? = nil) {
    self.efSearch = efSearch
  }
}

/// How an index is built, reported per segment by Stats.
public struct IndexDescription: Sendable, Equatable {
  /// "flat" or "hnsw".
  public var kind: String
  /// HNSW parameters (nil for flat).
  public var hnsw: HNSWParameters?
  /// Bytes the index holds (vectors, graph, id tables).
  public var memoryBytes: Int
  /// HNSW nodes marked deleted and not yet reused.
  public var deletedNodes: Int
}

/// The interface every index keeps (as Faiss's `Index`): add or replace vectors
/// under ids, remove ids, search the k best by inner product into a top-k that
/// several indexes can share, count, and serialise.
public protocol VectorIndex: Sendable {
  /// Length of every vector.
  var dimension: Int { get }
  /// Number of vectors held.
  var count: Int { get }
  /// Adds one vector per id (rows of `vectors`); an id already present is
  /// replaced; of an id given twice, the last row wins.
  mutating func add(ids: [String], vectors: Matrix)
  /// Removes the ids that are present; returns how many were.
  @discardableResult mutating func remove(ids: [String]) -> Int
  /// Offers each query row's best candidates to that row's selection (which
  /// keeps the best `k` of everything offered), so several indexes merge into
  /// one ranking.
  func search(_ queries: Matrix, into selections: inout [TopK], options: SearchOptions)
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
}

extension VectorIndex {
  /// For each query row, the `k` best ids by inner product, best first.
  public func search(_ queries: Matrix, k: Int, options: SearchOptions = SearchOptions()) -> [[ScoredID]] {
    var selections = (0..<queries.rows).map { _ in TopK(k: min(k, count)) }
    search(queries, into: &selections, options: options)
    return selections.map { $0.sorted() }
  }

  /// The index as bytes: its kind and parameters, then every id and vector.
  /// `IndexKind.deserialize` rebuilds it (an HNSW graph is rebuilt, not stored).
  public func serialized() -> [UInt8] {
    var bytes: [UInt8] = Array("BCTX".utf8)
    func put(_ value: UInt64) { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    let kind = description.hnsw.map(IndexKind.hnsw) ?? .flat
    bytes.append(contentsOf: kind.tag)
    put(UInt64(dimension))
    let ids = allIDs
    put(UInt64(ids.count))
    for id in ids {
      put(UInt64(id.utf8.count))
      bytes.append(contentsOf: id.utf8)
      for value in vector(for: id) ?? [] { withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    }
    return bytes
  }
}

/// Which index a version segment uses.
public enum IndexKind: Sendable, Equatable {
  /// Exact inner product (`FlatIndex`).
  case flat
  /// Approximate, hnswlib's graph (`HNSWIndex`).
  case hnsw(HNSWParameters)

  /// An empty index of this kind.
  public func make(dimension: Int) -> any VectorIndex {
    switch self {
    case .flat: FlatIndex(dimension: dimension)
    case .hnsw(let parameters): HNSWIndex(dimension: dimension, parameters: parameters)
    }
  }

  /// "flat" or "hnsw(M=16,efConstruction=200,efSearch=64)".
  public var name: String {
    switch self {
    case .flat: "flat"
    case .hnsw(let p): "hnsw(M=\(p.m),efConstruction=\(p.efConstruction),efSearch=\(p.efSearch))"
    }
  }

  fileprivate var tag: [UInt8] {
    switch self {
    case .flat: [0]
    case .hnsw(let p): [1] + [p.m, p.efConstruction, p.efSearch, p.seed].flatMap { value in
        withUnsafeBytes(of: UInt64(value).littleEndian) { Array($0) }
      }
    }
  }

  /// Rebuilds an index written by `serialized()`.
  public static func deserialize(_ bytes: [UInt8]) throws -> any VectorIndex {
    var offset = 0
    func take(_ n: Int) throws -> ArraySlice<UInt8> {
      guard n >= 0, bytes.count - offset >= n else { throw IndexFormatError("the index ends early (at byte \(offset), \(n) more needed)") }
      defer { offset += n }
      return bytes[offset..<(offset + n)]
    }
    func word() throws -> Int {
      let raw = try take(8).reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
      guard raw <= UInt64(Int32.max) else { throw IndexFormatError("a size of \(raw) at byte \(offset - 8) is out of range") }
      return Int(raw)
    }
    guard Array(try take(4)) == Array("BCTX".utf8) else { throw IndexFormatError("not a serialised index (no BCTX mark)") }
    let kind: IndexKind
    switch try take(1).first! {
    case 0: kind = .flat
    case 1:
      let (m, efC, ef, seed) = (try word(), try word(), try word(), try word())
      let parameters = HNSWParameters(m: m, efConstruction: efC, efSearch: ef, seed: seed)
      if let problem = parameters.problem { throw IndexFormatError("bad HNSW parameters: \(problem)") }
      kind = .hnsw(parameters)
    case let other: throw IndexFormatError("unknown index kind \(other)")
    }
    let dimension = try word()
    let count = try word()
    guard dimension >= 1, count <= (bytes.count - offset) / (8 + dimension * 4) else {
      throw IndexFormatError("dimension \(dimension) and count \(count) do not fit the \(bytes.count) bytes")
    }
    var ids: [String] = []
    var values: [Float] = []
    values.reserveCapacity(count * dimension)
    for _ in 0..<count {
      ids.append(String(decoding: try take(try word()), as: UTF8.self))
      let raw = try take(dimension * 4)
      for start in stride(from: raw.startIndex, to: raw.endIndex, by: 4) {
        values.append(Float(bitPattern: raw[start..<(start + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }))
      }
    }
    guard Set(ids).count == ids.count else { throw IndexFormatError("an id appears twice") }
    var index = kind.make(dimension: dimension)
    index.add(ids: ids, vectors: Matrix(rows: count, columns: dimension, values: values))
    return index
  }
}

/// A serialised index that cannot be read.
public struct IndexFormatError: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
