import ArgumentParser
import BCTData
import BCTIndex
import BCTModelRepository
import BCTNumerics
import Foundation

/// HNSW build time, memory, and recall@k and batch-1 QPS per efSearch, on the
/// vectors of an .npy file (the peer, Faiss IndexHNSWFlat, reads the same files);
/// exact ground truth from the flat index. `--embed-model` first writes the
/// embeddings of Fashion-MNIST (train: base, test: queries) by a model version.
struct ANNBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ann",
    abstract: "HNSW index: build, memory, recall@k and batch-1 QPS per ef; prints JSON.")

  @Option(help: "Base vectors (.npy, rows).") var base: String
  @Option(help: "Query vectors (.npy, rows).") var queries: String
  @Option(help: "Write Fashion-MNIST embeddings by this model version folder to --base and --queries first.")
  var embedModel: String?
  @Option(help: "Folder of the built-in dataset.") var dataDir: String = DataSource.debianFashionMNIST
  @Option(help: "HNSW links per node.") var m: Int = 16
  @Option(help: "HNSW efConstruction.") var efConstruction: Int = 200
  @Option(help: "efSearch values, comma-separated.") var ef: String = "16,32,64,128,256,512"
  @Option(help: "Neighbours per query.") var k: Int = 10
  @Option(help: "Seconds of batch-1 queries per ef.") var seconds: Double = 3
  @Option(help: "Queries used (the first rows of --queries).") var maxQueries: Int = 1000

  func run() async throws {
    if let embedModel {
      let model = try ModelVersion.load(from: URL(fileURLWithPath: embedModel))
      let source = try DataSource.fashionMNIST(directory: dataDir)
      for (split, path) in [(DataSource.Split.train, base), (.test, queries)] {
        let embeddings = model.backbone.embed(try source.load(split).inputs).l2NormalizedRows()
        try Data(NPY.encode(shape: [embeddings.rows, embeddings.columns], values: embeddings.values))
          .write(to: URL(fileURLWithPath: path))
      }
    }
    let vectors = try Self.matrix(base)
    let allQueries = try Self.matrix(queries)
    let queryRows = allQueries.rows(0..<min(maxQueries, allQueries.rows))
    let efs = ef.split(separator: ",").compactMap { Int($0) }
    let parameters = HNSWParameters(m: m, efConstruction: efConstruction, efSearch: efs.first ?? 64)
    if let problem = parameters.problem { throw ValidationError(problem) }
    let ids = (0..<vectors.rows).map(String.init)

    let start = ContinuousClock.now
    var index = HNSWIndex(dimension: vectors.columns, parameters: parameters)
    index.add(ids: ids, vectors: vectors)
    let buildSeconds = (ContinuousClock.now - start).inSeconds

    var exact = FlatIndex(dimension: vectors.columns)
    exact.add(ids: ids, vectors: vectors)
    let truth = exact.search(queryRows, k: k).map { Set($0.map(\.id)) }

    var rows: [[String: Any]] = []
    for ef in efs {
      let options = SearchOptions(efSearch: ef)
      var found = 0
      for q in 0..<queryRows.rows {
        let hits = index.search(queryRows.rows(q..<(q + 1)), k: k, options: options)[0]
        found += hits.filter { truth[q].contains($0.id) }.count
      }
      var done = 0
      let timed = ContinuousClock.now
      while ContinuousClock.now - timed < .seconds(seconds) || done == 0 {
        let q = done % queryRows.rows
        _ = index.search(queryRows.rows(q..<(q + 1)), k: k, options: options)
        done += 1
      }
      rows.append([
        "ef": ef, "recall": Double(found) / Double(queryRows.rows * k),
        "qps_1": Double(done) / (ContinuousClock.now - timed).inSeconds,
      ])
    }
    let description = index.description
    let result: [String: Any] = [
      "count": vectors.rows, "dimension": vectors.columns, "m": m, "ef_construction": efConstruction, "k": k,
      "build_seconds": buildSeconds, "memory_bytes_per_vector": Double(description.memoryBytes) / Double(vectors.rows),
      "vector_copy_bytes_per_vector": Double(vectors.columns * 4), "results": rows,
      "first_truth": (0..<5).map { exact.search(queryRows.rows($0..<($0 + 1)), k: k)[0].map { Int($0.id)! } },
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
  }

  static func matrix(_ path: String) throws -> Matrix {
    let array = try ArrayFile.read(path: path)
    guard array.shape.count == 2 else { throw ValidationError("\(path): expected a 2-D array, got shape \(array.shape)") }
    return Matrix(rows: array.shape[0], columns: array.shape[1], values: array.values)
  }
}
