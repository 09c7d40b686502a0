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
  @Option(help: "With --embed-model: grow the base to this many rows with shifted, rescaled and noisy copies of the train images (0: the train split as is).")
  var augmentTo: Int = 0
  @Option(help: "Folder of the built-in dataset.") var dataDir: String = DataSource.debianFashionMNIST
  @Option(help: "HNSW links per node.") var m: Int = 16
  @Option(help: "HNSW efConstruction.") var efConstruction: Int = 200
  @Option(help: "efSearch values, comma-separated.") var ef: String = "16,32,64,128,256,512"
  @Option(help: "Neighbours per query.") var k: Int = 10
  @Option(help: "Seconds of batch-1 queries per ef.") var seconds: Double = 3
  @Option(help: "Queries used (the first rows of --queries).") var maxQueries: Int = 1000

  func run() async throws {
    if let embedModel {
      try Self.writeEmbeddings(model: embedModel, dataDir: dataDir, augmentTo: augmentTo, base: base, queries: queries)
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
      "results": rows,
      "first_truth": (0..<5).map { exact.search(queryRows.rows($0..<($0 + 1)), k: k)[0].map { Int($0.id)! } },
    ]
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
  }

  /// Writes the embeddings of Fashion-MNIST by the model version folder `model`: the
  /// train split (grown to `augmentTo` rows by `augmented` copies) to `base`, the test
  /// split to `queries`, L2-normalised.
  static func writeEmbeddings(model path: String, dataDir: String, augmentTo: Int, base: String, queries: String) throws {
    let model = try ModelVersion.load(from: URL(fileURLWithPath: path))
    let source = try DataSource.fashionMNIST(directory: dataDir)
    for (split, out) in [(DataSource.Split.train, base), (.test, queries)] {
      let data = try source.load(split)
      let rows = split == .train ? max(augmentTo, data.count) : data.count
      var values: [Float] = []
      values.reserveCapacity(rows * model.backbone.embeddingDim)
      for start in stride(from: 0, to: rows, by: 8192) {
        let images = augmented(data, rows: start..<min(rows, start + 8192))
        values += model.backbone.embed(images).l2NormalizedRows().values
      }
      try Data(NPY.encode(shape: [rows, model.backbone.embeddingDim], values: values)).write(to: URL(fileURLWithPath: out))
    }
  }

  /// Rows `range` of a catalogue made of `data`'s images (rows below `data.count`)
  /// then copies of them, each shifted by up to 2 pixels, scaled in brightness
  /// by 0.8-1.2 and given Gaussian noise (sigma 8 of 255); row i's copy is seeded by i.
  static func augmented(_ data: Dataset, rows range: Range<Int>) -> Matrix {
    let (height, width) = (data.sampleShape[data.sampleShape.count - 2], data.sampleShape[data.sampleShape.count - 1])
    let columns = data.inputs.columns
    var out = Matrix(rows: range.count, columns: columns)
    for (row, i) in range.enumerated() {
      let source = i % data.count
      guard i >= data.count else {
        for j in 0..<columns { out[row, j] = data.inputs[source, j] }
        continue
      }
      var random = SeededGenerator(seed: UInt64(i))
      let dy = Int(random.next() % 5) - 2
      let dx = Int(random.next() % 5) - 2
      let scale = 0.8 + 0.4 * random.nextUniform()
      for j in 0..<columns {
        let (plane, y, x) = (j / (height * width), j / width % height, j % width)
        let (sy, sx) = (y - dy, x - dx)
        let pixel = (0..<height).contains(sy) && (0..<width).contains(sx)
          ? data.inputs[source, plane * height * width + sy * width + sx] : 0
        out[row, j] = min(255, max(0, pixel * scale + 8 * random.nextGaussian()))
      }
    }
    return out
  }

  static func matrix(_ path: String) throws -> Matrix {
    let array = try ArrayFile.read(path: path)
    guard array.shape.count == 2 else { throw ValidationError("\(path): expected a 2-D array, got shape \(array.shape)") }
    return Matrix(rows: array.shape[0], columns: array.shape[1], values: array.values)
  }
}
