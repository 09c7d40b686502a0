import BCTNumerics
import CKernels
import Synchronization

/// Exact inner-product scoring of contiguous row-major vectors against query rows,
/// offered into per-query top-k selections: SGEMV for one query (memory-bandwidth
/// bound), SGEMM in blocks of rows for a batch. The scan `FlatIndex` runs, and the
/// one filtered searches run over the rows of only the ids a filter lets through.
enum ExactScan {
  /// Scores rows `0..<count` of `vectors` (each `dimension` long) for every query row;
  /// `id(row)` names a row; `accept(row)` (if any) is asked only about rows good enough
  /// to enter a selection, so a permissive filter costs almost nothing.
  static func scan(
    _ vectors: UnsafeBufferPointer<Float>, count n: Int, dimension d: Int, id: (Int) -> String,
    queries: Matrix, into selections: inout [TopK], blockSize: Int, accept: ((Int) -> Bool)?
  ) {
    guard n > 0, queries.rows > 0 else { return }
    let q = queries.rows
    let block = q == 1 ? n : max(1, blockSize)
    var scores = [Float](repeating: 0, count: q * min(block, n))
    var start = 0
    while start < n {
      let rows = min(block, n - start)
      queries.values.withUnsafeBufferPointer { qs in
        scores.withUnsafeMutableBufferPointer { out in
          if q == 1 {
            BLAS.gemv(rows: rows, columns: d, a: vectors.baseAddress! + start * d, lda: d, x: qs.baseAddress!, y: out.baseAddress!)
          } else {
            // scores[q, rows] = queries[q, d] * vectors[start..<start+rows, d]^T
            BLAS.gemm(m: q, n: rows, k: d, a: qs.baseAddress!, lda: d,
                      b: vectors.baseAddress! + start * d, ldb: d, .transposed, c: out.baseAddress!, ldc: rows)
          }
        }
      }
      scores.withUnsafeBufferPointer { s in
        selections.withUnsafeMutableBufferPointer { buffer in
          let sel = buffer
          parallelChunks(q, minimumChunk: 1) { range in
            for i in range {
              offer(s.baseAddress! + i * rows, count: rows, first: start, into: &sel[i], id: id, accept: accept)
            }
          }
        }
      }
      start += rows
    }
  }

  /// One query against every row (or the rows whose key passes `bits`), streamed
  /// once by the fused kernel, which hands back only rows that can still be among
  /// the k best (`ck_dot_candidates`); those are offered to `selection`. Rows are
  /// split over up to `threads` cores when there are at least 131,072 per core.
  static func single(
    _ vectors: UnsafeBufferPointer<Float>, count n: Int, dimension d: Int, keys: [Int], bits: DocumentBits?,
    query: Matrix, into selection: inout TopK, threads: Int = processorCount, id: (Int) -> String
  ) {
    guard n > 0, selection.k > 0 else { return }
    precondition(keys.count >= n && query.rows == 1 && query.columns == d, "one key per row, one query of the rows' width")
    let workers = min(max(1, threads), max(1, n / 131_072))
    guard workers > 1 else {
      candidates(vectors, rows: 0..<n, dimension: d, keys: keys, bits: bits, query: query, into: &selection, id: id)
      return
    }
    let k = selection.k
    let partial = Mutex<[TopK]>([])
    parallelChunks(n, minimumChunk: (n + workers - 1) / workers) { range in
      var local = TopK(k: k)
      candidates(vectors, rows: range, dimension: d, keys: keys, bits: bits, query: query, into: &local, id: id)
      partial.withLock { $0.append(local) }
    }
    for local in partial.withLock({ $0 }) {
      for candidate in local.sorted() { selection.offer(candidate) }
    }
  }

  /// The fused kernel over `rows`, its candidates offered to `selection`.
  private static func candidates(
    _ vectors: UnsafeBufferPointer<Float>, rows: Range<Int>, dimension d: Int, keys: [Int], bits: DocumentBits?,
    query: Matrix, into selection: inout TopK, id: (Int) -> String
  ) {
    let capacity = max(4096, 16 * selection.k)
    var found = [Int32](repeating: 0, count: capacity)
    var scores = [Float](repeating: 0, count: capacity)
    var heap = [Float](repeating: 0, count: selection.k)
    var next = rows.lowerBound
    while next < rows.upperBound {
      var resume = rows.upperBound
      let emitted = keys.withUnsafeBufferPointer { k in
        k.withMemoryRebound(to: Int64.self) { keys64 in
          query.values.withUnsafeBufferPointer { q in
            (bits?.words ?? []).withUnsafeBufferPointer { w in
              ck_dot_candidates(
                vectors.baseAddress!, next, rows.upperBound, d, q.baseAddress!, keys64.baseAddress!, bits == nil ? nil : w.baseAddress,
                w.count, selection.k, &heap, &found, &scores, capacity, &resume)
            }
          }
        }
      }
      var threshold = selection.threshold
      for j in 0..<emitted where scores[j] >= threshold {
        selection.offer(score: scores[j], id: id(Int(found[j])))
        threshold = selection.threshold
      }
      next = resume
    }
  }

  /// Offers `count` scores (of rows `first...`) to one selection.
  @inline(__always)
  private static func offer(
    _ scores: UnsafePointer<Float>, count: Int, first: Int, into selection: inout TopK, id: (Int) -> String,
    accept: ((Int) -> Bool)?
  ) {
    var threshold = selection.threshold
    for j in 0..<count where scores[j] >= threshold {
      if let accept, !accept(first + j) { continue }
      selection.offer(score: scores[j], id: id(first + j))
      threshold = selection.threshold
    }
  }

  /// Scores only the rows in `picked` (`vector(row)` points at a row's `dimension`
  /// values), copied together first so that the scan stays one GEMV/GEMM.
  static func gathered(
    rows picked: [Int], dimension d: Int, vector: (Int) -> UnsafePointer<Float>, id: (Int) -> String,
    queries: Matrix, into selections: inout [TopK], blockSize: Int
  ) {
    guard !picked.isEmpty else { return }
    var packed = [Float](repeating: 0, count: picked.count * d)
    packed.withUnsafeMutableBufferPointer { out in
      for (i, row) in picked.enumerated() {
        (out.baseAddress! + i * d).update(from: vector(row), count: d)
      }
    }
    packed.withUnsafeBufferPointer { rows in
      scan(rows, count: picked.count, dimension: d, id: { id(picked[$0]) }, queries: queries, into: &selections,
           blockSize: blockSize, accept: nil)
    }
  }
}
