import ArgumentParser
import BCTClient
import BCTIndex
import BCTMilvus
import BCTNumerics
import Foundation

/// What keeping documents in Milvus costs against bct's in-process index, on the same
/// documents (seeded random unit embeddings, raw inputs of `--input-size` values) and
/// queries: upsert throughput and per-batch latency, flush time, and batch-1 search
/// QPS, p50/p99 latency and recall@k against exact search. The in-process side is the
/// index alone (no RPC); the Milvus side is the BCTMilvus client over gRPC, as the
/// Milvus store would call it.
struct MilvusBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "milvus",
    abstract: "Milvus client vs in-process HNSW: upserts, flush, batch-1 search latency and recall; prints JSON.")

  @Option(help: "Milvus gRPC address, HOST:PORT.") var milvus: String
  @Option(help: "Documents (.npy rows; default: seeded random unit vectors).") var base: String?
  @Option(help: "Queries (.npy rows; with --base).") var queries: String?
  @Option(help: "Documents without --base (the first rows of --base with it).") var count: Int = 100_000
  @Option(help: "Embedding dimension without --base.") var dimension: Int = 128
  @Option(help: "Raw input values per document.") var inputSize: Int = 784
  @Option(help: "Documents per upsert call.") var batch: Int = 500
  @Option(help: "Neighbours per query.") var k: Int = 10
  @Option(help: "HNSW efSearch of Milvus's index.") var ef: Int = 64
  @Option(help: "efSearch values of the in-process index, comma-separated (to compare at equal recall).")
  var memoryEf: String = "16,64,256"
  @Option(help: "Seconds of batch-1 queries per side.") var seconds: Double = 5
  @Option(help: "Seed of the documents and queries.") var seed: UInt64 = 7
  @Option(help: "Milvus read consistency: strong, session, bounded or eventually.") var consistency: String = "strong"

  func run() async throws {
    var generator = SeededGenerator(seed: seed)
    let vectors: Matrix
    let queries: Matrix
    if let base {
      guard let queriesPath = self.queries else { throw ValidationError("--base needs --queries") }
      let all = try ANNBench.matrix(base)
      vectors = all.rows(0..<min(count, all.rows))
      let allQueries = try ANNBench.matrix(queriesPath)
      queries = allQueries.rows(0..<min(1000, allQueries.rows))
    } else {
      vectors = Matrix.gaussian(rows: count, columns: dimension, std: 1, using: &generator).l2NormalizedRows()
      queries = Matrix.gaussian(rows: 1000, columns: dimension, std: 1, using: &generator).l2NormalizedRows()
    }
    let (count, dimension) = (vectors.rows, vectors.columns)
    let input = (0..<inputSize).map { _ in Float(Int(generator.nextUniform() * 256)) }
    let ids = (0..<count).map { "doc-\($0)" }
    var exact = FlatIndex(dimension: dimension)
    exact.add(ids: ids, vectors: vectors)
    let truth = exact.search(queries, k: k).map { Set($0.map(\.id)) }

    // In process: bct's HNSW index, the memory store's search structure.
    let parameters = HNSWParameters(m: 16, efConstruction: 200, efSearch: ef)
    var index = HNSWIndex(dimension: dimension, parameters: parameters)
    let buildStart = ContinuousClock.now
    for start in stride(from: 0, to: count, by: batch) {
      let end = min(count, start + batch)
      index.add(ids: Array(ids[start..<end]), vectors: vectors.rows(start..<end))
    }
    let memoryBuild = (ContinuousClock.now - buildStart).inSeconds
    let frozen = index
    var memory: [String: [String: Double]] = [:]
    for memoryEf in memoryEf.split(separator: ",").compactMap({ Int($0) }) {
      memory["ef\(memoryEf)"] = try await Self.searchLatencies(queries: queries, truth: truth, seconds: seconds) { q in
        frozen.search(queries.rows(q..<(q + 1)), k: k, options: SearchOptions(efSearch: memoryEf))[0]
      }
    }

    // Milvus through the client.
    let address = try ServiceAddress(parsing: milvus)
    let collection = try MilvusDocumentCollection(name: "bct_bench_\(count)_\(dimension)", dimension: dimension, inputSize: inputSize)
    let figures = try await withConnection(to: address) { grpc in
      guard let level = MilvusConsistency(rawValue: consistency) else { throw ValidationError("unknown --consistency \(consistency)") }
      let client = MilvusClient(grpc, address: milvus, timeout: .seconds(120), readConsistency: level)
      let version = try await client.checkSupported()
      try await client.dropCollection(collection.name)
      try await client.ensureCollection(collection)
      var upsertLatencies: [Double] = []
      let upsertStart = ContinuousClock.now
      for start in stride(from: 0, to: count, by: batch) {
        let end = min(count, start + batch)
        let documents = (start..<end).map {
          MilvusDocument(id: ids[$0], embedding: Array(vectors.values[($0 * dimension)..<(($0 + 1) * dimension)]), input: input)
        }
        let t = ContinuousClock.now
        try await client.upsert(collection, documents)
        upsertLatencies.append((ContinuousClock.now - t).inSeconds * 1000)
      }
      let upsertSeconds = (ContinuousClock.now - upsertStart).inSeconds
      let flushStart = ContinuousClock.now
      try await client.flush([collection.name])
      let flushSeconds = (ContinuousClock.now - flushStart).inSeconds
      let indexStart = ContinuousClock.now
      let indexed = try await client.waitForIndex(collection.name)
      let indexSeconds = (ContinuousClock.now - indexStart).inSeconds
      let stored = try await client.count(collection.name)
      let search = try await Self.searchLatencies(queries: queries, truth: truth, seconds: seconds) { q in
        try await client.search(collection, queries: [Array(queries.values[(q * dimension)..<((q + 1) * dimension)])], k: k, ef: ef)[0]
      }
      try await client.dropCollection(collection.name)
      return MilvusFigures(
        version: version, upsertSeconds: upsertSeconds, upsertLatencies: upsertLatencies, flushSeconds: flushSeconds,
        indexSeconds: indexSeconds, indexed: indexed,
        stored: stored, search: search)
    }
    let report: [String: Any] = [
      "count": count, "dimension": dimension, "consistency": consistency, "input_size": inputSize, "batch": batch, "k": k, "ef": ef,
      "milvus_version": figures.version,
      "memory": ["build_seconds": memoryBuild, "adds_per_second": Double(count) / memoryBuild, "search": memory] as [String: Any],
      "milvus": [
        "upsert_seconds": figures.upsertSeconds, "upserts_per_second": Double(count) / figures.upsertSeconds,
        "upsert_batch_p50_ms": percentile(sorted: figures.upsertLatencies.sorted(), 0.5),
        "upsert_batch_p99_ms": percentile(sorted: figures.upsertLatencies.sorted(), 0.99),
        "flush_seconds": figures.flushSeconds, "index_wait_seconds": figures.indexSeconds, "indexed": figures.indexed, "stored": figures.stored, "search": figures.search,
      ],
    ]
    let data = try JSONSerialization.data(withJSONObject: report, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
  }

  /// Batch-1 queries for `seconds`: QPS, p50/p99 latency (ms), and recall@k over the first 200 queries.
  static func searchLatencies(
    queries: Matrix, truth: [Set<String>], seconds: Double, _ search: (Int) async throws -> [ScoredID]
  ) async throws -> [String: Double] {
    var found = 0
    let checked = min(200, queries.rows)
    for q in 0..<checked { found += try await search(q).filter { truth[q].contains($0.id) }.count }
    var latencies: [Double] = []
    let start = ContinuousClock.now
    while (ContinuousClock.now - start).inSeconds < seconds || latencies.isEmpty {
      let t = ContinuousClock.now
      _ = try await search(latencies.count % queries.rows)
      latencies.append((ContinuousClock.now - t).inSeconds * 1000)
    }
    let elapsed = (ContinuousClock.now - start).inSeconds
    latencies.sort()
    return [
      "qps": Double(latencies.count) / elapsed, "p50_ms": percentile(sorted: latencies, 0.5), "p99_ms": percentile(sorted: latencies, 0.99),
      "recall": Double(found) / Double(checked * truth[0].count),
    ]
  }

  /// What the Milvus side measured.
  struct MilvusFigures: Sendable {
    var version: String
    var upsertSeconds: Double
    var upsertLatencies: [Double]
    var flushSeconds: Double
    var indexSeconds: Double
    var indexed: Int
    var stored: Int
    var search: [String: Double]
  }
}
