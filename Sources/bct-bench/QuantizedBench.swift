import ArgumentParser
import BCTData
import BCTIndex
import BCTNumerics
import Foundation

/// Exact search from compressed vectors: float32 `FlatIndex` against
/// `QuantizedFlatIndex` (SQ8 and f16, their default re-rank factors) on the vectors of an .npy file
/// (the peer, Faiss IndexScalarQuantizer under IndexRefineFlat, reads the same files):
/// build time, bytes each search scans per vector, recall@k against exact search, and
/// batch-1 QPS at 1 and every core. `--embed-model` first writes the embeddings of
/// Fashion-MNIST by a model version (as `bct-bench ann` does). Prints JSON.
struct QuantizedBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quantized",
    abstract: "Flat vs flat-sq8 vs flat-f16: scanned bytes, recall@k and batch-1 QPS; prints JSON.")

  @Option(help: "Base vectors (.npy, rows).") var base: String
  @Option(help: "Query vectors (.npy, rows).") var queries: String
  @Option(help: "Write Fashion-MNIST embeddings by this model version folder to --base and --queries first.")
  var embedModel: String?
  @Option(help: "With --embed-model: grow the base to this many rows (see bct-bench ann).") var augmentTo: Int = 0
  @Option(help: "Folder of the built-in dataset.") var dataDir: String = DataSource.debianFashionMNIST
  @Option(help: "Neighbours per query.") var k: Int = 10
  @Option(help: "Seconds of batch-1 queries per configuration.") var seconds: Double = 3
  @Option(help: "Queries used for recall (the first rows of --queries).") var maxQueries: Int = 1000
  @Option(help: "Candidates re-ranked exactly per result (default: the index's).") var rerank: Int?

  func run() async throws {
    if let embedModel {
      try ANNBench.writeEmbeddings(model: embedModel, dataDir: dataDir, augmentTo: augmentTo, base: base, queries: queries)
    }
    let vectors = try ANNBench.matrix(base)
    let all = try ANNBench.matrix(queries)
    let queryRows = all.rows(0..<min(maxQueries, all.rows))
    let ids = (0..<vectors.rows).map(String.init)
    var exact = FlatIndex(dimension: vectors.columns)
    exact.add(ids: ids, vectors: vectors)
    let truth = exact.search(queryRows, k: k).map { Set($0.map(\.id)) }
    var results: [[String: Any]] = [Self.measure("flat", exact, queryRows, truth: truth, k: k, seconds: seconds, scanned: 4 * vectors.columns) {
      var index = exact
      index.singleQueryThreads = $0
      return index
    }]
    for encoding in VectorEncoding.allCases {
      let start = ContinuousClock.now
      var index = QuantizedFlatIndex(dimension: vectors.columns, encoding: encoding)
      if let rerank { index.rerankFactor = max(1, rerank) }
      index.add(ids: ids, vectors: vectors)
      var row = Self.measure("flat-\(encoding.rawValue)", index, queryRows, truth: truth, k: k, seconds: seconds,
                             scanned: index.scannedBytes / max(1, vectors.rows)) {
        var copy = index
        copy.singleQueryThreads = $0
        return copy
      }
      row["build_seconds"] = (ContinuousClock.now - start).inSeconds - (row["measure_seconds"] as? Double ?? 0)
      results.append(row)
    }
    let output: [String: Any] = [
      "count": vectors.rows, "dimension": vectors.columns, "k": k, "rerank_factors": VectorEncoding.allCases.map { rerank ?? QuantizedFlatIndex(dimension: 1, encoding: $0).rerankFactor },
      "results": results,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: output, options: [.sortedKeys]), as: UTF8.self))
  }

  /// Recall@k and batch-1 QPS (1 and every core) of `index`.
  static func measure(
    _ name: String, _ index: any VectorIndex, _ queries: Matrix, truth: [Set<String>], k: Int, seconds: Double, scanned: Int,
    threads: (Int) -> any VectorIndex
  ) -> [String: Any] {
    let started = ContinuousClock.now
    let found = index.search(queries, k: k).enumerated().map { q, hits in hits.filter { truth[q].contains($0.id) }.count }
    var qps: [String: Double] = [:]
    for count in Set([1, processorCount]).sorted() {
      let configured = threads(count)
      var done = 0
      let timed = ContinuousClock.now
      while ContinuousClock.now - timed < .seconds(seconds) || done == 0 {
        _ = configured.search(queries.rows((done % queries.rows)..<(done % queries.rows + 1)), k: k)
        done += 1
      }
      qps["\(count)"] = Double(done) / (ContinuousClock.now - timed).inSeconds
    }
    return [
      "index": name, "recall": Double(found.reduce(0, +)) / Double(max(1, queries.rows * k)), "qps_1_by_threads": qps,
      "scanned_bytes_per_vector": scanned, "measure_seconds": (ContinuousClock.now - started).inSeconds,
    ]
  }
}
