import BCTNumerics

/// Exact inner-product search over vectors stored contiguously (row-major), as
/// Faiss's `IndexFlatIP`: query batches go through SGEMM in blocks of documents,
/// a single query through SGEMV (memory-bandwidth bound); top-k by bounded heap.
/// Removal moves the last vector into the freed slot, so storage stays contiguous.
public struct FlatIndex: VectorIndex {
  public let dimension: Int
  private var ids: [String] = []
  private var slots: [String: Int] = [:]
  private var storage: [Float] = []
  /// Each slot's key (-1: none), and how many slots have none.
  private var keys: [Int] = []
  private var unkeyed = 0
  /// Documents scored per GEMM block (bounds the score buffer to block x queries).
  public var blockSize = 4096
  /// Cores one query's scan may use (it splits only with 131,072 rows or more per core).
  public var singleQueryThreads = processorCount

  /// An empty index of `dimension`-long vectors.
  public init(dimension: Int) {
    precondition(dimension >= 1, "dimension must be positive")
    self.dimension = dimension
  }

  public var count: Int { ids.count }
  public var vectorBytes: Int { storage.count * MemoryLayout<Float>.size }
  /// The ids held, in storage order.
  public var allIDs: [String] { ids }

  public mutating func add(ids newIDs: [String], vectors: Matrix, keys newKeys: [Int]?) {
    precondition(vectors.columns == dimension && vectors.rows == newIDs.count, "add needs one \(dimension)-vector per id")
    precondition(newKeys == nil || newKeys!.count == newIDs.count, "one key per id")
    // Room for every new row at once, growing geometrically (an exact reserve per batch would copy every time).
    let needed = storage.count + vectors.values.count
    if storage.capacity < needed { storage.reserveCapacity(max(needed, storage.capacity * 2)) }
    vectors.values.withUnsafeBufferPointer { source in
      for (row, id) in newIDs.enumerated() {
        let vector = UnsafeBufferPointer(rebasing: source[(row * dimension)..<((row + 1) * dimension)])
        let key = newKeys?[row] ?? -1
        if let slot = slots[id] {
          storage.replaceSubrange((slot * dimension)..<((slot + 1) * dimension), with: vector)
          unkeyed += (key < 0 ? 1 : 0) - (keys[slot] < 0 ? 1 : 0)
          keys[slot] = key
        } else {
          slots[id] = ids.count
          ids.append(id)
          keys.append(key)
          if key < 0 { unkeyed += 1 }
          storage.append(contentsOf: vector)
        }
      }
    }
  }

  public mutating func setKeys(_ key: (String) -> Int?) {
    keys = ids.map { key($0) ?? -1 }
    unkeyed = keys.count { $0 < 0 }
  }

  @discardableResult
  public mutating func remove(ids removed: [String]) -> Int {
    var count = 0
    for id in removed {
      guard let slot = slots.removeValue(forKey: id) else { continue }
      count += 1
      let last = ids.count - 1
      if keys[slot] < 0 { unkeyed -= 1 }
      if slot != last {
        let moved = ids[last]
        ids[slot] = moved
        keys[slot] = keys[last]
        slots[moved] = slot
        storage.withUnsafeMutableBufferPointer { s in
          for j in 0..<dimension { s[slot * dimension + j] = s[last * dimension + j] }
        }
      }
      ids.removeLast()
      keys.removeLast()
      storage.removeLast(dimension)
    }
    return count
  }

  /// The storage row of `id`.
  func slot(of id: String) -> Int? { slots[id] }

  /// The id stored in row `slot`.
  func id(at slot: Int) -> String { ids[slot] }

  /// Runs `body` over the stored vectors, row-major, one row per slot.
  func withRows<Result>(_ body: (UnsafeBufferPointer<Float>) throws -> Result) rethrows -> Result {
    try storage.withUnsafeBufferPointer(body)
  }

  public func vector(for id: String) -> [Float]? {
    guard let slot = slots[id] else { return nil }
    return Array(storage[(slot * dimension)..<((slot + 1) * dimension)])
  }

  public var description: IndexDescription {
    IndexDescription(
      kind: "flat", hnsw: nil, memoryBytes: storage.capacity * 4 + ids.capacity * 16 + slots.capacity * 24, deletedNodes: 0)
  }

  public func detached() -> any VectorIndex { self }

  /// A copy with exact capacities once less than half of the vector storage is in use.
  public func compacted() -> (any VectorIndex)? {
    guard storage.capacity > 2 * storage.count + 4096 else { return nil }
    var copy = FlatIndex(dimension: dimension)
    copy.blockSize = blockSize
    copy.singleQueryThreads = singleQueryThreads
    // Copies through a buffer pointer: `Array(storage[...])` may keep the whole old buffer.
    copy.storage = storage.withUnsafeBufferPointer { Array($0) }
    copy.ids = ids.withUnsafeBufferPointer { Array($0) }
    copy.keys = keys.withUnsafeBufferPointer { Array($0) }
    copy.unkeyed = unkeyed
    copy.slots = Dictionary(minimumCapacity: slots.count)
    for (id, slot) in slots { copy.slots[id] = slot }
    return copy
  }

  /// Offers every stored vector's score for each query to that query's selection;
  /// with a filter, only passing ids. A selective filter (under a quarter of the
  /// vectors) scores only its ids' rows; a permissive one scans everything and asks
  /// the filter only about rows that would enter a selection.
  public func search(_ queries: Matrix, into selections: inout [TopK], options: SearchOptions, filter: IDFilter?) {
    precondition(queries.columns == dimension, "queries have \(queries.columns) dimensions, the index \(dimension)")
    precondition(selections.count == queries.rows, "one selection per query")
    guard count > 0, queries.rows > 0 else { return }
    let bits = unkeyed == 0 ? filter?.keys : nil
    storage.withUnsafeBufferPointer { docs in
      if queries.rows == 1 && (filter == nil || bits != nil) {
        ExactScan.single(
          docs, count: count, dimension: dimension, keys: keys, bits: bits, query: queries, into: &selections[0],
          threads: singleQueryThreads, id: { ids[$0] })
      } else if let filter, filter.count < count / Self.gatherDivisor {
        let picked = bits.map { bits in (0..<count).filter { bits.contains(keys[$0]) } } ?? filter.ids.compactMap { slots[$0] }
        let d = dimension
        ExactScan.gathered(
          rows: picked, dimension: d, vector: { docs.baseAddress! + $0 * d }, id: { ids[$0] }, queries: queries,
          into: &selections, blockSize: blockSize)
      } else {
        let accept: ((Int) -> Bool)? = filter.map { filter in
          if let bits { { bits.contains(keys[$0]) } } else { { filter.contains(ids[$0]) } }
        }
        ExactScan.scan(
          docs, count: count, dimension: dimension, id: { ids[$0] }, queries: queries, into: &selections,
          blockSize: blockSize, accept: accept)
      }
    }
  }

  /// A filter passing fewer than 1/gatherDivisor of the vectors is served by copying
  /// its rows out (found by key bits, or by id lookups for unkeyed vectors): a gathered
  /// row costs about what four streamed rows do (a scattered read against a sequential
  /// one), measured by `bct-bench filter`.
  static let gatherDivisor = 4
}
