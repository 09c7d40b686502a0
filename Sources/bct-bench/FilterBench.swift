import ArgumentParser
import BCTCollection
import BCTData
import BCTIndex
import BCTNumerics
import BCTRetrieval
import Foundation

/// Filtered search through the memory store's own path (a metadata filter evaluated
/// from its postings for every query, then the flat or HNSW segment searched with
/// it): recall@k against exact filtered search and batch-1 QPS per selectivity, and
/// unfiltered flat QPS beside them. Document i carries `bucket` = (i * 7919) mod 1000;
/// a selectivity s is the filter `bucket < 1000 s`, the same rows the peer
/// (`benchmarks/filter_faiss.py`) selects. Prints JSON.
struct FilterBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "filter", abstract: "Filtered search (flat and HNSW) per selectivity: recall and batch-1 QPS; prints JSON.")

  @Option(help: "Base vectors (.npy, rows).") var base: String
  @Option(help: "Query vectors (.npy, rows).") var queries: String
  @Option(help: "Write Fashion-MNIST embeddings by this model version folder to --base and --queries first.")
  var embedModel: String?
  @Option(help: "With --embed-model: grow the base to this many rows with shifted, rescaled and noisy copies of the train images.")
  var augmentTo: Int = 0
  @Option(help: "Folder of the built-in dataset.") var dataDir: String = DataSource.debianFashionMNIST
  @Option(help: "Selectivities, comma-separated.") var selectivities: String = "0.001,0.01,0.05,0.1,1"
  @Option(help: "HNSW efSearch values, comma-separated.") var ef: String = "64,128,256"
  @Option(help: "Neighbours per query.") var k: Int = 10
  @Option(help: "Seconds of batch-1 queries per measurement.") var seconds: Double = 2
  @Option(help: "Queries used (the first rows of --queries).") var maxQueries: Int = 200

  static func bucket(_ row: Int) -> Int { (row * 7919) % 1000 }

  func run() async throws {
    if let embedModel {
      try ANNBench.writeEmbeddings(model: embedModel, dataDir: dataDir, augmentTo: augmentTo, base: base, queries: queries)
    }
    let vectors = try ANNBench.matrix(base)
    let allQueries = try ANNBench.matrix(queries)
    let queryRows = allQueries.rows(0..<min(maxQueries, allQueries.rows))
    let documents = (0..<vectors.rows).map { i in
      StoredDocument(id: "\(i)", metadata: ["bucket": "\(Self.bucket(i))"], inputShape: [], input: [], version: "v1", vector: vectors.row(i))
    }
    var flat = CollectionState(indexKind: .flat)
    flat.apply(.upsert(documents))
    let built = ContinuousClock.now
    var hnsw = CollectionState(indexKind: .hnsw(HNSWParameters()))
    hnsw.apply(.upsert(documents))
    let buildSeconds = (ContinuousClock.now - built).inSeconds
    var results: [[String: Any]] = []
    for share in selectivities.split(separator: ",").compactMap({ Double($0) }) {
      let filter = MetadataFilter.range(key: "bucket", lower: nil, upper: .init(share * 1000, inclusive: false))
      let truth = Self.exact(queryRows, vectors, k: k, passing: { Double(Self.bucket($0)) < share * 1000 })
      let flatRun = measure(flat, queryRows, filter: filter, ef: nil, truth: truth)
      var hnswRuns: [[String: Any]] = []
      for ef in ef.split(separator: ",").compactMap({ Int($0) }) {
        let run = measure(hnsw, queryRows, filter: filter, ef: ef, truth: truth)
        hnswRuns.append(["ef": ef, "recall": run.recall, "qps": run.qps])
      }
      var evaluations = 0
      let evaluated = ContinuousClock.now
      while (ContinuousClock.now - evaluated).inSeconds < 0.5 {
        _ = flat.metadataIndex.idFilter(filter)
        evaluations += 1
      }
      results.append([
        "filter_us": (ContinuousClock.now - evaluated).inSeconds * 1e6 / Double(evaluations),
        "selectivity": share, "passing": flat.metadataIndex.idFilter(filter)?.count ?? vectors.rows, "flat_qps": flatRun.qps,
        "flat_recall": flatRun.recall, "hnsw": hnswRuns, "first_truth": truth.prefix(5).map { $0.map { Int($0)! } },
      ])
    }
    let unfiltered = measure(flat, queryRows, filter: nil, ef: nil, truth: nil)
    let json: [String: Any] = [
      "count": vectors.rows, "dimension": vectors.columns, "k": k, "hnsw_build_seconds": buildSeconds,
      "unfiltered_flat_qps": unfiltered.qps, "results": results,
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: json, options: [.sortedKeys]), as: UTF8.self))
  }

  /// Recall@k against `truth` and batch-1 QPS of the store's filtered search.
  func measure(_ state: CollectionState, _ queries: Matrix, filter: MetadataFilter?, ef: Int?, truth: [[String]]?) -> (recall: Double, qps: Double) {
    let options = SearchOptions(efSearch: ef)
    let search = { (q: Int) in
      state.index.search(
        queries.rows(q..<(q + 1)), k: k, versions: ["v1"], options: options, filter: filter.flatMap { state.metadataIndex.idFilter($0) })[0]
    }
    var found = 0, possible = 0
    if let truth {
      for q in 0..<queries.rows {
        found += Set(search(q).map(\.scored.id)).intersection(truth[q]).count
        possible += truth[q].count
      }
    }
    var done = 0
    let start = ContinuousClock.now
    while (ContinuousClock.now - start).inSeconds < seconds || done == 0 {
      _ = search(done % queries.rows)
      done += 1
    }
    return (possible == 0 ? 1 : Double(found) / Double(possible), Double(done) / (ContinuousClock.now - start).inSeconds)
  }

  /// The exact filtered top-k ids per query, by brute force.
  static func exact(_ queries: Matrix, _ vectors: Matrix, k: Int, passing: (Int) -> Bool) -> [[String]] {
    let rows = (0..<vectors.rows).filter(passing)
    return (0..<queries.rows).map { q in
      let query = queries.row(q)
      var top = TopK(k: k)
      for r in rows {
        var score: Float = 0
        vectors.values.withUnsafeBufferPointer { v in
          for j in 0..<vectors.columns { score += v[r * vectors.columns + j] * query[j] }
        }
        top.offer(score: score, id: "\(r)")
      }
      return top.sorted().map(\.id)
    }
  }
}
