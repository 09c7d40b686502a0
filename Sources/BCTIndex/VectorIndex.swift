import BCTNumerics
import BCTStorage

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
  /// "flat" or "hnsw".
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
  /// A copy holding only what the live vectors need, when removals left this
  /// one holding much more (freed capacity, deleted graph nodes); nil otherwise.
  func compacted() -> (any VectorIndex)?
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
    var writer = BinaryWriter()
    writer.append(IndexKind.mark)
    (description.hnsw.map(IndexKind.hnsw) ?? .flat).write(to: &writer)
    writer.write(UInt32(dimension))
    let ids = allIDs
    writer.write(UInt32(ids.count))
    for id in ids {
      writer.write(id)
      for value in vector(for: id) ?? [] { writer.write(value.bitPattern) }
    }
    return writer.bytes
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

  fileprivate static let mark = Array("BCTX".utf8)

  fileprivate func write(to writer: inout BinaryWriter) {
    switch self {
    case .flat: writer.write(UInt8(0))
    case .hnsw(let p):
      writer.write(UInt8(1))
      for value in [p.m, p.efConstruction, p.efSearch, p.seed] { writer.write(UInt64(truncatingIfNeeded: value)) }
    }
  }

  fileprivate static func read(from reader: inout BinaryReader) throws -> IndexKind {
    switch try reader.read(UInt8.self) {
    case 0: return .flat
    case 1:
      let words = try (0..<4).map { _ in
        let raw = try reader.read(UInt64.self)
        guard let value = Int(exactly: raw) else { throw IndexFormatError("an HNSW parameter of \(raw) is out of range") }
        return value
      }
      let parameters = HNSWParameters(m: words[0], efConstruction: words[1], efSearch: words[2], seed: words[3])
      if let problem = parameters.problem { throw IndexFormatError("bad HNSW parameters: \(problem)") }
      return .hnsw(parameters)
    case let other: throw IndexFormatError("unknown index kind \(other)")
    }
  }

  /// Rebuilds an index written by `serialized()`.
  public static func deserialize(_ bytes: [UInt8]) throws -> any VectorIndex {
    var reader = BinaryReader(bytes)
    do {
      guard try reader.readBytes(mark.count) == mark else { throw IndexFormatError("not a serialised index (no BCTX mark)") }
      let kind = try read(from: &reader)
      let dimension = Int(try reader.read(UInt32.self))
      guard dimension >= 1 else { throw IndexFormatError("dimension \(dimension) is not positive") }
      let count = try reader.readCount(elementBytes: 4 + dimension * 4)
      var ids: [String] = []
      var values: [Float] = []
      values.reserveCapacity(count * dimension)
      for _ in 0..<count {
        ids.append(try reader.readString())
        for _ in 0..<dimension { values.append(Float(bitPattern: try reader.read(UInt32.self))) }
      }
      guard Set(ids).count == ids.count else { throw IndexFormatError("an id appears twice") }
      var index = kind.make(dimension: dimension)
      index.add(ids: ids, vectors: Matrix(rows: count, columns: dimension, values: values))
      return index
    } catch let error as StorageError {
      throw IndexFormatError(error.description)
    }
  }
}

/// A serialised index that cannot be read.
public struct IndexFormatError: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
