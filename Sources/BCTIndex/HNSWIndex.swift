import BCTNumerics
import CHNSW

#if canImport(Glibc)
import Glibc
#endif

/// Settings of an HNSW graph.
public struct HNSWParameters: Sendable, Hashable {
  /// Links per node on the upper levels (twice as many on level 0).
  public var m: Int
  /// Candidate list size while inserting: larger builds slower, a better graph.
  public var efConstruction: Int
  /// Default candidate list size while searching (a request may override it).
  public var efSearch: Int
  /// Seed of the level draw, so that a rebuild gives the same graph for the same insert order.
  public var seed: Int

  /// Parameters; the defaults are hnswlib's and Faiss's usual M=16, efConstruction=200.
  public init(m: Int = 16, efConstruction: Int = 200, efSearch: Int = 64, seed: Int = 100) {
    self.m = m
    self.efConstruction = efConstruction
    self.efSearch = efSearch
    self.seed = seed
  }

  /// Why these parameters cannot build a graph, or nil.
  public var problem: String? {
    if !(2...512).contains(m) { return "M must be 2-512; got \(m)" }
    if !(1...100_000).contains(efConstruction) { return "efConstruction must be 1-100000; got \(efConstruction)" }
    if !(1...100_000).contains(efSearch) { return "efSearch must be 1-100000; got \(efSearch)" }
    if seed < 0 { return "seed must be 0 or more; got \(seed)" }
    return nil
  }
}

/// Approximate inner-product search on bct's HNSW graph (`CHNSW`: Malkov &
/// Yashunin's algorithms, a node per label, striped locks, no label map), with the
/// ids in a compact `LabelTable`.
///
/// Each id owns a label (a slot); removing an id marks its node deleted (never
/// returned, still a routing node) and frees the label, and the next new id takes
/// that label over, replacing the node's vector and relinking it (mark-deleted plus
/// replace, as hnswlib does). Each vector is kept once, in the graph: `vector(for:)`
/// reads it there. A copy shares the graph until either side changes, which then
/// clones it (a memory copy, no relinking); `detached()` clones at once, so that a
/// snapshot encodes a frozen graph while this one keeps changing. Bulk adds insert
/// from every core.
public struct HNSWIndex: VectorIndex {
  public let dimension: Int
  /// The graph's settings.
  public let parameters: HNSWParameters
  private var graph: HNSWGraph?
  private var table = LabelTable()
  private var freeLabels: [Int] = []
  /// Each label's key (-1: none), and how many live labels have none.
  private var keyAt: [Int] = []
  private var unkeyed = 0

  /// An empty index of `dimension`-long vectors.
  public init(dimension: Int, parameters: HNSWParameters = HNSWParameters()) {
    precondition(dimension >= 1, "dimension must be positive")
    precondition(parameters.problem == nil, parameters.problem ?? "")
    self.dimension = dimension
    self.parameters = parameters
  }

  /// An index over a graph read back from `chnsw_serialize` bytes, its labels naming
  /// `ids` (nil: a free label); nil when the graph or the labels do not hold.
  init?(dimension: Int, parameters: HNSWParameters, ids: [String?], graph: HNSWGraph) {
    self.init(dimension: dimension, parameters: parameters)
    var live = 0
    for (label, id) in ids.enumerated() {
      _ = table.appendLabel(reserving: ids.count - label - 1)
      guard let id else {
        freeLabels.append(label)
        continue
      }
      guard table.label(of: id) == nil, chnsw_vector(graph.pointer, UInt64(label)) != nil else { return nil }
      table.assign(id, to: label)
      live += 1
    }
    guard live == chnsw_count(graph.pointer) - chnsw_deleted_count(graph.pointer) else { return nil }
    freeLabels.reverse()
    keyAt = Array(repeating: -1, count: ids.count)
    unkeyed = live
    self.graph = graph
  }

  public var count: Int { table.count }
  var idAtTable: [String?] { table.ids }
  var graphPointer: OpaquePointer? { graph?.pointer }
  var graphObject: HNSWGraph? { graph }
  func label(of id: String) -> Int? { table.label(of: id) }
  public var vectorBytes: Int { table.count * dimension * MemoryLayout<Float>.size }
  public var allIDs: [String] { table.ids.compactMap { $0 } }

  public var description: IndexDescription {
    let graphBytes = graph.map { chnsw_memory_bytes($0.pointer) } ?? 0
    let tables = table.bytes + keyAt.capacity * MemoryLayout<Int>.stride + freeLabels.capacity * MemoryLayout<Int>.stride
    return IndexDescription(
      kind: "hnsw", hnsw: parameters, memoryBytes: graphBytes + tables,
      deletedNodes: graph.map { chnsw_deleted_count($0.pointer) } ?? 0)
  }

  public func vector(for id: String) -> [Float]? {
    guard let label = table.label(of: id), let graph, let stored = chnsw_vector(graph.pointer, UInt64(label)) else { return nil }
    return Array(UnsafeBufferPointer(start: stored, count: dimension))
  }

  /// A copy owning a clone of the graph (see the type's note).
  public func detached() -> any VectorIndex {
    var copy = self
    copy.graph = graph?.clone(capacity: 0)
    return copy
  }

  /// A rebuilt graph over the live vectors once deleted nodes outnumber them
  /// (at least 1,024 of them): an in-place backfill empties a segment by
  /// removals that no new id reuses. Rebuilding at each halving costs about
  /// one build of the segment in all.
  public func compacted() -> (any VectorIndex)? {
    guard freeLabels.count >= 1024, freeLabels.count > table.count else { return nil }
    var copy = HNSWIndex(dimension: dimension, parameters: parameters)
    let (ids, vectors) = liveVectors
    if !ids.isEmpty { copy.add(ids: ids, vectors: vectors, keys: unkeyed == 0 ? ids.map { keyAt[table.label(of: $0)!] } : nil) }
    return copy
  }

  public mutating func add(ids newIDs: [String], vectors: Matrix, keys newKeys: [Int]?) {
    precondition(vectors.columns == dimension && vectors.rows == newIDs.count, "add needs one \(dimension)-vector per id")
    precondition(newKeys == nil || newKeys!.count == newIDs.count, "one key per id")
    var lastRow: [String: Int] = [:]
    for (row, id) in newIDs.enumerated() { lastRow[id] = row }
    let graph = uniqueGraph(extra: lastRow.count)
    // Nodes already in the graph (a replaced id, a freed node taken over) are
    // relinked one at a time (a relink rewrites the node's own lists, and its old
    // neighbours' links to it stay), so only new nodes are added in parallel.
    // An id given the vector it holds keeps its node (only its key changes).
    var work: [(label: Int, row: Int)] = []
    var relinks: [(label: Int, row: Int)] = []
    work.reserveCapacity(lastRow.count)
    vectors.values.withUnsafeBufferPointer { source in
      for (row, id) in newIDs.enumerated() where lastRow[id] == row {
        let label: Int
        if let held = table.label(of: id) {
          label = held
          if keyAt[label] < 0 { unkeyed -= 1 }
          if !graph.holds(source.baseAddress! + row * dimension, label: label, dimension: dimension) { relinks.append((label, row)) }
        } else if let free = freeLabels.popLast() {
          label = free
          relinks.append((label, row))
        } else {
          label = table.appendLabel(reserving: lastRow.count - work.count - 1)
          if keyAt.capacity < table.ids.capacity { keyAt.reserveCapacity(table.ids.capacity) }
          keyAt.append(-1)
          work.append((label, row))
        }
        if table.ids[label] == nil { table.assign(id, to: label) }
        keyAt[label] = newKeys?[row] ?? -1
        if keyAt[label] < 0 { unkeyed += 1 }
      }
      let d = dimension
      for (label, row) in relinks { graph.add(source.baseAddress! + row * d, label: label) }
      // New nodes go in level by level from the top, each level in parallel (as Faiss
      // builds): the upper levels exist before the crowd of level-0 nodes searches them.
      let byLevel = Dictionary(grouping: work) { Int(chnsw_level_for(graph.pointer, UInt64($0.label))) }
      for level in byLevel.keys.sorted(by: >) {
        byLevel[level]!.withUnsafeBufferPointer { items in
          parallelChunks(items.count, minimumChunk: 256) { range in
            for i in range { graph.add(source.baseAddress! + items[i].row * d, label: items[i].label) }
          }
        }
      }
    }
  }

  public mutating func setKeys(_ key: (String) -> Int?) {
    unkeyed = 0
    for (label, id) in table.ids.enumerated() {
      keyAt[label] = id.flatMap(key) ?? -1
      if id != nil && keyAt[label] < 0 { unkeyed += 1 }
    }
  }

  @discardableResult
  public mutating func remove(ids removed: [String]) -> Int {
    var count = 0
    let graph = uniqueGraph(extra: 0)
    for id in removed {
      guard let label = table.remove(id) else { continue }
      count += 1
      if keyAt[label] < 0 { unkeyed -= 1 }
      keyAt[label] = -1
      freeLabels.append(label)
      chnsw_mark_deleted(graph.pointer, UInt64(label))
    }
    return count
  }

  /// The graph search, or with a filter the planner's choice: an exact scan of the
  /// passing ids when that is cheaper than the widened walk (`prefersExact`), else
  /// the walk returning only passing ids.
  public func search(_ queries: Matrix, into selections: inout [TopK], options: SearchOptions, filter: IDFilter?) {
    precondition(queries.columns == dimension, "queries have \(queries.columns) dimensions, the index \(dimension)")
    precondition(selections.count == queries.rows, "one selection per query")
    guard let graph, table.count > 0, queries.rows > 0 else { return }
    let ef = max(1, options.efSearch ?? parameters.efSearch)
    if let filter, prefersExact(passing: filter.count, ef: max(ef, selections.first?.k ?? 0)) {
      let ids = table.ids
      let picked = keyBits(filter).map { bits in ids.indices.filter { ids[$0] != nil && bits.contains(keyAt[$0]) } }
        ?? filter.ids.compactMap { table.label(of: $0) }
      ExactScan.gathered(
        rows: picked, dimension: dimension, vector: { chnsw_vector(graph.pointer, UInt64($0))! }, id: { ids[$0] ?? "" },
        queries: queries, into: &selections, blockSize: 4096)
      return
    }
    walk(graph, queries, ef: ef, into: &selections, filter: filter)
  }

  /// The filter's key bits when every vector here has a key.
  private func keyBits(_ filter: IDFilter) -> DocumentBits? {
    unkeyed == 0 ? filter.keys : nil
  }

  /// The filtered graph walk whatever the planner would choose (tests and benchmarks).
  func searchWalking(_ queries: Matrix, into selections: inout [TopK], options: SearchOptions, filter: IDFilter) {
    guard let graph, table.count > 0 else { return }
    walk(graph, queries, ef: max(1, options.efSearch ?? parameters.efSearch), into: &selections, filter: filter)
  }

  /// Whether an exact scan of `passing` vectors costs less than a filtered walk, by a
  /// cost model in nanoseconds (constants measured by `scripts/bench-filter.sh` on
  /// 100,000 Fashion-MNIST embeddings, 128-d, 2 cores). A walk with candidate list `ef`
  /// visits about `ef * 2M` nodes when every node passes (level 0 has 2M links per
  /// node) and `1/s` times as many when a share `s` passes, at `walkNanos` each. The
  /// scan reads every vector's key (`keyNanos`) and scores the passing ones
  /// (`rowNanos`, a scattered read). So the scan wins when
  /// `n * keyNanos + passing * rowNanos <= ef * 2M * (n / passing) * walkNanos`: at
  /// n = 100,000, ef = 64, M = 16, below about 9% passing (4% at ef = 16). Qdrant's planner decides the
  /// same way, by estimated cardinality against a fixed threshold. Below that share
  /// the walk also loses recall (the passing nodes stop being connected through each
  /// other); the scan's recall is 1.
  func prefersExact(passing: Int, ef: Int) -> Bool {
    let n = Double(count), passing = Double(max(1, min(passing, count)))
    let scan = n * Self.keyNanos + passing * Self.rowNanos
    let walk = Double(ef * 2 * parameters.m) * (n / passing) * Self.walkNanos
    return scan <= walk
  }

  static let keyNanos = 1.0
  static let rowNanos = 48.0
  static let walkNanos = 25.0

  private func walk(_ graph: HNSWGraph, _ queries: Matrix, ef: Int, into selections: inout [TopK], filter: IDFilter?) {
    let d = dimension
    let ids = table.ids
    let keys = filter.flatMap(keyBits).map { (bits: $0, at: keyAt) }
    queries.values.withUnsafeBufferPointer { q in
      selections.withUnsafeMutableBufferPointer { sel in
        parallelChunks(queries.rows, minimumChunk: 16) { range in
          var found = [UInt64](repeating: 0, count: 0)
          var scores = [Float](repeating: 0, count: 0)
          var gate = HNSWFilterGate(ids: ids, filter: filter, keys: keys)
          for i in range {
            let k = sel[i].k
            guard k > 0 else { continue }
            if found.count < k {
              found = [UInt64](repeating: 0, count: k)
              scores = [Float](repeating: 0, count: k)
            }
            let n = found.withUnsafeMutableBufferPointer { f in
              scores.withUnsafeMutableBufferPointer { s in
                gate.search(graph, q.baseAddress! + i * d, k: k, ef: ef, labels: f.baseAddress!, scores: s.baseAddress!)
              }
            }
            for j in 0..<n {
              if let id = ids[Int(found[j])] { sel[i].offer(score: scores[j], id: id) }
            }
          }
        }
      }
    }
  }

  /// The held ids and their vectors, one row each, in label order.
  private var liveVectors: (ids: [String], vectors: Matrix) {
    let ids = allIDs
    return (ids, Matrix(rows: ids.count, columns: dimension, values: ids.flatMap { vector(for: $0)! }))
  }

  /// The graph, this copy's own (a clone when another copy shares it), with room
  /// for `extra` more nodes.
  private mutating func uniqueGraph(extra: Int) -> HNSWGraph {
    if graph == nil {
      graph = HNSWGraph(dimension: dimension, capacity: max(1024, extra), parameters: parameters)
    } else if !isKnownUniquelyReferenced(&graph) {
      graph = graph!.clone(capacity: table.ids.count + extra)
    }
    graph!.reserve(table.ids.count + extra)
    return graph!
  }
}

/// One thread's way into the graph search: the plain walk, or the filtered walk that
/// tests each label's key against the filter's bits in C (every vector keyed), or
/// asks `filter` about each label's id through a callback.
struct HNSWFilterGate {
  let ids: [String?]
  let filter: IDFilter?
  /// The filter's key bits and each label's key, when every vector has one.
  let keys: (bits: DocumentBits, at: [Int])?

  mutating func search(
    _ graph: HNSWGraph, _ query: UnsafePointer<Float>, k: Int, ef: Int, labels: UnsafeMutablePointer<UInt64>,
    scores: UnsafeMutablePointer<Float>
  ) -> Int {
    guard filter != nil else { return chnsw_search(graph.pointer, query, k, ef, labels, scores) }
    if let keys {
      return keys.at.withUnsafeBufferPointer { at in
        at.withMemoryRebound(to: Int64.self) { at64 in
          keys.bits.words.withUnsafeBufferPointer { words in
            chnsw_search_keyed(graph.pointer, query, k, ef, at64.baseAddress, at64.count, words.baseAddress, words.count, labels, scores)
          }
        }
      }
    }
    return withUnsafeMutablePointer(to: &self) { gate in
      chnsw_search_filtered(graph.pointer, query, k, ef, { context, label in
        let gate = context!.assumingMemoryBound(to: HNSWFilterGate.self)
        guard Int(label) < gate.pointee.ids.count, let id = gate.pointee.ids[Int(label)] else { return 0 }
        return gate.pointee.filter!.contains(id) ? 1 : 0
      }, gate, labels, scores)
    }
  }
}

/// Owns one graph. Concurrent adds of distinct new labels are safe, and so are
/// concurrent searches, but not the two at once (the value type's exclusive
/// access keeps them apart); `reserve` and mark-deleted run
/// with no add or search at once (callers hold the index exclusively then).
final class HNSWGraph: @unchecked Sendable {
  let pointer: OpaquePointer

  init(adopting pointer: OpaquePointer) {
    self.pointer = pointer
  }

  init(dimension: Int, capacity: Int, parameters: HNSWParameters) {
    var error = [CChar](repeating: 0, count: 256)
    guard let made = chnsw_create(dimension, capacity, parameters.m, parameters.efConstruction, parameters.seed, &error, error.count) else {
      fatalError("could not allocate a graph of \(capacity) nodes: \(Self.text(error))")
    }
    pointer = made
  }

  deinit { chnsw_free(pointer) }

  static func text(_ buffer: [CChar]) -> String {
    String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
  }

  /// An independent copy with room for at least `capacity` nodes.
  func clone(capacity: Int) -> HNSWGraph {
    var error = [CChar](repeating: 0, count: 256)
    guard let copy = chnsw_clone(pointer, capacity, &error, error.count) else {
      fatalError("could not copy a graph of \(chnsw_count(pointer)) nodes: \(Self.text(error))")
    }
    return HNSWGraph(adopting: copy)
  }

  /// Whether the live node of `label` holds exactly `vector`.
  func holds(_ vector: UnsafePointer<Float>, label: Int, dimension: Int) -> Bool {
    guard let stored = chnsw_vector(pointer, UInt64(label)) else { return false }
    return memcmp(stored, vector, dimension * MemoryLayout<Float>.size) == 0
  }

  /// Grows room (by a quarter at least, so that growing stays linear in all) so
  /// that `needed` nodes fit.
  func reserve(_ needed: Int) {
    let capacity = chnsw_capacity(pointer)
    guard needed > capacity else { return }
    var error = [CChar](repeating: 0, count: 256)
    guard chnsw_reserve(pointer, max(needed, capacity + capacity / 4), &error, error.count) == 0 else {
      fatalError("could not grow the graph to \(needed) nodes: \(Self.text(error))")
    }
  }

  /// Inserts or replaces the node of `label`.
  func add(_ vector: UnsafePointer<Float>, label: Int) {
    var error = [CChar](repeating: 0, count: 256)
    guard chnsw_add(pointer, vector, UInt64(label), &error, error.count) == 0 else {
      fatalError("the graph refused node \(label): \(Self.text(error))")
    }
  }
}
