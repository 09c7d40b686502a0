import ArgumentParser
import BCTData
import BCTIndex
import BCTNumerics
import CKernels
import Foundation
import Synchronization

/// Queries per second of the exact index at batch 1 and a query batch, on
/// random unit vectors it writes as `.npy` for the peer (Faiss) to load, plus
/// this machine's SGEMM GFLOP/s measured in the same run.
struct IndexBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "index",
    abstract: "Exact index QPS at batch 1 and N; writes the data as .npy; prints JSON.")

  @Option(help: "Folder for vectors.npy and queries.npy.") var out: String
  @Option(help: "Indexed vectors.") var count: Int = 1_000_000
  @Option(help: "Dimension.") var dimension: Int = 128
  @Option(help: "Neighbours per query.") var k: Int = 10
  @Option(help: "Queries per batch for the batched figure.") var batch: Int = 256
  @Option(help: "Seconds per measurement.") var seconds: Double = 5

  func run() async throws {
    var generator = SeededGenerator(seed: 42)
    let vectors = Matrix.gaussian(rows: count, columns: dimension, std: 1, using: &generator).l2NormalizedRows()
    let queries = Matrix.gaussian(rows: 1024, columns: dimension, std: 1, using: &generator).l2NormalizedRows()
    let folder = URL(fileURLWithPath: out)
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try Data(NPY.encode(shape: [count, dimension], values: vectors.values)).write(to: folder.appendingPathComponent("vectors.npy"))
    try Data(NPY.encode(shape: [1024, dimension], values: queries.values)).write(to: folder.appendingPathComponent("queries.npy"))

    let clock = ContinuousClock()
    var index = FlatIndex(dimension: dimension)
    let ids = (0..<count).map(String.init)
    let addStart = clock.now
    index.add(ids: ids, vectors: vectors)
    let addSeconds = (clock.now - addStart).inSeconds

    var singleQPS: [Int: Double] = [:]
    for threads in Set([1, processorCount]).sorted() {
      index.singleQueryThreads = threads
      var single = 0
      let singleStart = clock.now
      while clock.now - singleStart < .seconds(seconds) {
        _ = index.search(queries.rows((single % 1024)..<(single % 1024 + 1)), k: k)
        single += 1
      }
      singleQPS[threads] = Double(single) / (clock.now - singleStart).inSeconds
    }

    var batches = 0
    let batchStart = clock.now
    while clock.now - batchStart < .seconds(seconds) || batches == 0 {
      let start = (batches * batch) % (1024 - batch + 1)
      _ = index.search(queries.rows(start..<(start + batch)), k: k)
      batches += 1
    }
    let batchQPS = Double(batches * batch) / (clock.now - batchStart).inSeconds

    let first = index.search(queries.rows(0..<10), k: k).map { $0.map { Int($0.id)! } }
    let result: [String: Any] = [
      "count": count, "dimension": dimension, "k": k, "batch": batch, "threads": BLAS.threadCount,
      "add_seconds": addSeconds, "qps_1": singleQPS.values.max() ?? 0,
      "qps_1_by_threads": Dictionary(uniqueKeysWithValues: singleQPS.map { ("\($0.key)", $0.value) }), "qps_batch": batchQPS, "first_results": first,
      "sgemm_gflops": Self.sgemmGFLOPs(), "read_gbs_by_threads": Dictionary(uniqueKeysWithValues: Set([1, processorCount]).map {
        ("\($0)", Self.readBandwidth(vectors.values, threads: $0))
      }),
      "bytes_per_query": count * dimension * MemoryLayout<Float>.size,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
  }

  /// This machine's memory read bandwidth in GB/s with `threads` cores summing
  /// `values` (larger than the caches) in a streaming loop, best of 5 passes.
  static func readBandwidth(_ values: [Float], threads: Int) -> Double {
    var best = Double.infinity
    let sums = Mutex<Float>(0)
    values.withUnsafeBufferPointer { buffer in
      for _ in 0..<5 {
        let start = ContinuousClock.now
        parallelChunks(buffer.count, minimumChunk: (buffer.count + threads - 1) / threads) { range in
          let sum = ck_stream_sum(buffer.baseAddress! + range.lowerBound, range.count)
          sums.withLock { $0 += sum }
        }
        best = min(best, (ContinuousClock.now - start).inSeconds)
      }
    }
    withExtendedLifetime(sums) {}
    return Double(values.count * MemoryLayout<Float>.size) / best / 1e9
  }

  /// GFLOP/s of a 2048^3 single-precision product through OpenBLAS (best of 3).
  static func sgemmGFLOPs(size: Int = 2048) -> Double {
    var generator = SeededGenerator(seed: 1)
    let a = Matrix.gaussian(rows: size, columns: size, std: 1, using: &generator)
    let b = Matrix.gaussian(rows: size, columns: size, std: 1, using: &generator)
    var c = Matrix(rows: size, columns: size)
    var best = Double.infinity
    for _ in 0..<3 {
      let start = ContinuousClock.now
      BLAS.gemm(a, b, into: &c)
      best = min(best, (ContinuousClock.now - start).inSeconds)
    }
    return 2 * pow(Double(size), 3) / best / 1e9
  }
}
