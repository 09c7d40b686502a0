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
  /// Documents scored per GEMM block (bounds the score buffer to block x queries).
  public var blockSize = 4096

  /// An empty index of `dimension`-long vectors.
  public init(dimension: Int) {
    precondition(dimension >= 1, "dimension must be positive")
    self.dimension = dimension
  }

  public var count: Int { ids.count }
  public var vectorBytes: Int { storage.count * MemoryLayout<Float>.size }
  /// The ids held, in storage order.
  public var allIDs: [String] { ids }

  public mutating func add(ids newIDs: [String], vectors: Matrix) {
    precondition(vectors.columns == dimension && vectors.rows == newIDs.count, "add needs one \(dimension)-vector per id")
    vectors.values.withUnsafeBufferPointer { source in
      for (row, id) in newIDs.enumerated() {
        let vector = source[(row * dimension)..<((row + 1) * dimension)]
        if let slot = slots[id] {
          storage.replaceSubrange((slot * dimension)..<((slot + 1) * dimension), with: vector)
        } else {
          slots[id] = ids.count
          ids.append(id)
          storage.append(contentsOf: vector)
        }
      }
    }
  }

  @discardableResult
  public mutating func remove(ids removed: [String]) -> Int {
    var count = 0
    for id in removed {
      guard let slot = slots.removeValue(forKey: id) else { continue }
      count += 1
      let last = ids.count - 1
      if slot != last {
        let moved = ids[last]
        ids[slot] = moved
        slots[moved] = slot
        storage.withUnsafeMutableBufferPointer { s in
          for j in 0..<dimension { s[slot * dimension + j] = s[last * dimension + j] }
        }
      }
      ids.removeLast()
      storage.removeLast(dimension)
    }
    return count
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
    // Copies through a buffer pointer: `Array(storage[...])` may keep the whole old buffer.
    copy.storage = storage.withUnsafeBufferPointer { Array($0) }
    copy.ids = ids.withUnsafeBufferPointer { Array($0) }
    copy.slots = Dictionary(minimumCapacity: slots.count)
    for (id, slot) in slots { copy.slots[id] = slot }
    return copy
  }

  /// Offers every stored vector's score for each query to that query's selection.
  public func search(_ queries: Matrix, into selections: inout [TopK], options: SearchOptions) {
    precondition(queries.columns == dimension, "queries have \(queries.columns) dimensions, the index \(dimension)")
    precondition(selections.count == queries.rows, "one selection per query")
    let n = count
    guard n > 0, queries.rows > 0 else { return }
    let d = dimension
    if queries.rows == 1 {
      var scores = [Float](repeating: 0, count: n)
      storage.withUnsafeBufferPointer { docs in
        queries.values.withUnsafeBufferPointer { q in
          scores.withUnsafeMutableBufferPointer { out in
            BLAS.gemv(rows: n, columns: d, a: docs.baseAddress!, lda: d, x: q.baseAddress!, y: out.baseAddress!)
          }
        }
      }
      scores.withUnsafeBufferPointer { s in
        var threshold = selections[0].threshold
        for j in 0..<n where s[j] >= threshold {
          selections[0].offer(score: s[j], id: ids[j])
          threshold = selections[0].threshold
        }
      }
      return
    }
    let q = queries.rows
    let block = max(1, blockSize)
    var scores = [Float](repeating: 0, count: q * min(block, n))
    var start = 0
    while start < n {
      let rows = min(block, n - start)
      storage.withUnsafeBufferPointer { docs in
        queries.values.withUnsafeBufferPointer { qs in
          scores.withUnsafeMutableBufferPointer { out in
            // scores[q, rows] = queries[q, d] * docs[start..<start+rows, d]^T
            BLAS.gemm(m: q, n: rows, k: d, a: qs.baseAddress!, lda: d,
                      b: docs.baseAddress! + start * d, ldb: d, .transposed, c: out.baseAddress!, ldc: rows)
          }
        }
      }
      scores.withUnsafeBufferPointer { s in
        selections.withUnsafeMutableBufferPointer { sel in
          parallelChunks(q, minimumChunk: 1) { range in
            for i in range {
              let row = s.baseAddress! + i * rows
              var threshold = sel[i].threshold
              for j in 0..<rows where row[j] >= threshold {
                sel[i].offer(score: row[j], id: ids[start + j])
                threshold = sel[i].threshold
              }
            }
          }
        }
      }
      start += rows
    }
  }
}
