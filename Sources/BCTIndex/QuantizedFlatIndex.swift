import BCTNumerics
import CKernels

/// How a quantized flat index stores the copy of its vectors that searches scan.
public enum VectorEncoding: String, Sendable, Hashable, CaseIterable {
  /// One byte per value, with a per-dimension offset and scale (Faiss's SQ8): a
  /// quarter of float32.
  case sq8
  /// IEEE half floats: half of float32.
  case f16
}

/// Exact search answered from compressed vectors: every search scans a compressed
/// copy of the vectors (`VectorEncoding`), keeps the `rerankFactor x k` best rows by
/// that approximate score, and scores those again exactly against the float32
/// vectors, which only the re-rank reads (Faiss's `IndexRefineFlat` over an
/// `IndexScalarQuantizer`). Scores returned are exact inner products; a true top-k
/// vector is missed only when the compression pushes it below `rerankFactor x k`
/// others. Filtered searches use the exact path over the float32 vectors.
///
/// SQ8's per-dimension ranges are taken from the first vectors added and widened
/// (by a tenth more than needed, every code re-encoded) when later vectors fall
/// outside them, so no value is ever clamped.
public struct QuantizedFlatIndex: VectorIndex {
  /// The scanned copy's encoding.
  public let encoding: VectorEncoding
  /// Candidates re-ranked exactly per result wanted: 32 for SQ8, 8 for f16, the
  /// smallest factors reaching recall@10 >= 0.99 on `scripts/bench-quantized.sh`'s
  /// grown Fashion-MNIST embeddings (near-duplicate copies, the hard case: SQ8 reached
  /// 0.950, 0.977, 0.993, 0.999 at 8, 16, 32, 64; f16 0.9999 at 8).
  public var rerankFactor: Int
  /// Cores one query's scan may use (it splits only with 131,072 rows or more per core).
  public var singleQueryThreads = processorCount
  private var exact: FlatIndex
  private var codes: [UInt8] = []
  private var offset: [Float] = []
  private var scale: [Float] = []

  /// An empty index of `dimension`-long vectors scanned as `encoding`.
  public init(dimension: Int, encoding: VectorEncoding) {
    self.encoding = encoding
    rerankFactor = encoding == .sq8 ? 32 : 8
    exact = FlatIndex(dimension: dimension)
  }

  public var dimension: Int { exact.dimension }
  public var count: Int { exact.count }
  public var allIDs: [String] { exact.allIDs }
  public var vectorBytes: Int { exact.vectorBytes }
  /// Bytes of the compressed copy each search scans.
  public var scannedBytes: Int { codes.count }
  private var rowBytes: Int { encoding == .sq8 ? dimension : 2 * dimension }

  public var description: IndexDescription {
    let full = exact.description
    return IndexDescription(
      kind: "flat-\(encoding.rawValue)", hnsw: nil, memoryBytes: full.memoryBytes + codes.capacity + (offset.capacity + scale.capacity) * 4,
      deletedNodes: 0)
  }

  public func vector(for id: String) -> [Float]? { exact.vector(for: id) }
  public func detached() -> any VectorIndex { self }

  public func compacted() -> (any VectorIndex)? {
    guard let smaller = exact.compacted() as? FlatIndex else { return nil }
    var copy = self
    copy.exact = smaller
    copy.codes = codes.withUnsafeBufferPointer { Array($0) }
    return copy
  }

  public mutating func setKeys(_ key: (String) -> Int?) { exact.setKeys(key) }

  public mutating func add(ids newIDs: [String], vectors: Matrix, keys newKeys: [Int]?) {
    exact.add(ids: newIDs, vectors: vectors, keys: newKeys)
    if encoding == .sq8 && widenRanges(to: vectors) {
      reencodeAll()
      return
    }
    var lastRow: [String: Int] = [:]
    for (row, id) in newIDs.enumerated() { lastRow[id] = row }
    let placed = lastRow.map { (slot: exact.slot(of: $0.key)!, row: $0.value) }.sorted { $0.slot < $1.slot }
    // New ids took the rows after the last one, in order.
    if let grown = placed.last?.slot, grown * rowBytes >= codes.count {
      codes.append(contentsOf: repeatElement(0, count: (grown + 1) * rowBytes - codes.count))
    }
    let (encoding, offset, scale, d, width) = (encoding, offset, scale, dimension, rowBytes)
    vectors.values.withUnsafeBufferPointer { source in
      codes.withUnsafeMutableBufferPointer { c in
        for (slot, row) in placed {
          Self.encode(source.baseAddress! + row * d, into: c.baseAddress! + slot * width, d, encoding, offset, scale)
        }
      }
    }
  }

  @discardableResult
  public mutating func remove(ids removed: [String]) -> Int {
    var count = 0
    for id in removed {
      guard let slot = exact.slot(of: id) else { continue }
      let last = exact.count - 1
      if slot != last {
        let width = rowBytes
        codes.withUnsafeMutableBufferPointer { c in
          (c.baseAddress! + slot * width).update(from: c.baseAddress! + last * width, count: width)
        }
      }
      codes.removeLast(rowBytes)
      count += exact.remove(ids: [id])
    }
    return count
  }

  /// Encodes the `d` values at `vector` into the row at `out`.
  private static func encode(
    _ vector: UnsafePointer<Float>, into out: UnsafeMutablePointer<UInt8>, _ d: Int, _ encoding: VectorEncoding,
    _ offset: [Float], _ scale: [Float]
  ) {
    switch encoding {
    case .sq8:
      for j in 0..<d {
        let code = ((vector[j] - offset[j]) / scale[j]).rounded()
        out[j] = UInt8(min(255, max(0, code.isFinite ? code : 0)))
      }
    case .f16:
      UnsafeMutableRawPointer(out).withMemoryRebound(to: UInt16.self, capacity: d) { halves in
        for j in 0..<d { halves[j] = Float16(vector[j]).bitPattern }
      }
    }
  }

  /// Widens the SQ8 ranges to hold `vectors` (first call: their own ranges); true when
  /// ranges existed and changed (every code must then be encoded again).
  private mutating func widenRanges(to vectors: Matrix) -> Bool {
    guard vectors.rows > 0 else { return false }
    var low = offset.isEmpty ? [Float](repeating: .infinity, count: dimension) : offset
    var high = offset.isEmpty ? [Float](repeating: -.infinity, count: dimension) : zip(offset, scale).map { $0 + 255 * $1 }
    var outside = false
    vectors.values.withUnsafeBufferPointer { v in
      for row in 0..<vectors.rows {
        for j in 0..<dimension where v[row * dimension + j].isFinite {
          let x = v[row * dimension + j]
          if x < low[j] { low[j] = x; outside = true }
          if x > high[j] { high[j] = x; outside = true }
        }
      }
    }
    guard outside else { return false }
    let existed = !offset.isEmpty
    let margin: Float = existed ? 0.1 : 0
    for j in 0..<dimension {
      if !low[j].isFinite { low[j] = 0; high[j] = 0 }
      let span = high[j] - low[j]
      low[j] -= margin * span
      high[j] += margin * span
    }
    offset = low
    scale = zip(low, high).map { $1 > $0 ? ($1 - $0) / 255 : 1 }
    return existed
  }

  /// Encodes every stored vector again (after the SQ8 ranges widened).
  private mutating func reencodeAll() {
    codes = [UInt8](repeating: 0, count: exact.count * rowBytes)
    let (encoding, offset, scale, d, width, rows) = (encoding, offset, scale, dimension, rowBytes, exact)
    rows.withRows { stored in
      codes.withUnsafeMutableBufferPointer { c in
        for slot in 0..<rows.count {
          Self.encode(stored.baseAddress! + slot * d, into: c.baseAddress! + slot * width, d, encoding, offset, scale)
        }
      }
    }
  }

  /// The compressed scan and the exact re-rank (see the type's note); a filter is
  /// answered by the exact path.
  public func search(_ queries: Matrix, into selections: inout [TopK], options: SearchOptions, filter: IDFilter?) {
    precondition(queries.columns == dimension, "queries have \(queries.columns) dimensions, the index \(dimension)")
    precondition(selections.count == queries.rows, "one selection per query")
    guard count > 0, queries.rows > 0 else { return }
    if filter != nil {
      exact.search(queries, into: &selections, options: options, filter: filter)
      return
    }
    queries.values.withUnsafeBufferPointer { q in
      selections.withUnsafeMutableBufferPointer { sel in
        let one = queries.rows == 1
        parallelChunks(queries.rows, minimumChunk: 1) { range in
          for i in range {
            let query = UnsafeBufferPointer(rebasing: q[(i * dimension)..<((i + 1) * dimension)])
            answer(query, into: &sel[i], threads: one ? singleQueryThreads : 1)
          }
        }
      }
    }
  }

  /// One query: the `rerankFactor x k` best rows by the compressed scan (split over
  /// `threads` cores for large indexes), re-scored exactly, offered to `selection`.
  private func answer(_ query: UnsafeBufferPointer<Float>, into selection: inout TopK, threads: Int) {
    guard selection.k > 0 else { return }
    let r = min(count, max(selection.k, rerankFactor * selection.k))
    let workers = min(max(1, threads), max(1, count / 131_072))
    let chunk = (count + workers - 1) / workers
    var candidates = [[Int64]](repeating: [], count: workers)
    candidates.withUnsafeMutableBufferPointer { out in
      parallelChunks(workers, minimumChunk: 1) { range in
        for w in range { out[w] = scan(query, rows: (w * chunk)..<min(count, (w + 1) * chunk), keep: r) }
      }
    }
    exact.withRows { rows in
      for row in candidates.joined() {
        let slot = Int(row)
        var score: Float = 0
        let vector = rows.baseAddress! + slot * dimension
        for j in 0..<dimension { score += query[j] * vector[j] }
        selection.offer(score: score, id: exact.id(at: slot))
      }
    }
  }

  /// The `keep` best rows of `rows` by the compressed score.
  private func scan(_ query: UnsafeBufferPointer<Float>, rows: Range<Int>, keep: Int) -> [Int64] {
    guard !rows.isEmpty else { return [] }
    var heapScores = [Float](repeating: 0, count: keep)
    var heapRows = [Int64](repeating: 0, count: keep)
    var size = 0
    codes.withUnsafeBufferPointer { c in
      switch encoding {
      case .sq8:
        let weights = (0..<dimension).map { query[$0] * scale[$0] }
        let bias = (0..<dimension).reduce(Float(0)) { $0 + query[$1] * offset[$1] }
        ck_sq8_top(c.baseAddress!, rows.lowerBound, rows.upperBound, dimension, weights, bias, keep, &heapScores, &heapRows, &size)
      case .f16:
        UnsafeRawPointer(c.baseAddress!).withMemoryRebound(to: UInt16.self, capacity: c.count / 2) { halves in
          ck_f16_top(halves, rows.lowerBound, rows.upperBound, dimension, query.baseAddress!, keep, &heapScores, &heapRows, &size)
        }
      }
    }
    return Array(heapRows.prefix(size))
  }
}
