import ArgumentParser
import BCTClient
import BCTData
import BCTModel
import BCTModelRepository
import BCTNumerics
import Foundation

/// Embeddings per second of model versions, in process and through a running
/// `bct-encoder`, at batch 1 and 256 on Fashion-MNIST test images.
struct EncoderBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "encoder",
    abstract: "Embeddings/s in process and over gRPC; prints JSON.")

  @Option(help: "Model repository.") var models: String
  @Option(help: "Versions to measure, comma separated.") var versions: String
  @Option(help: "A running bct-encoder serving the same repository (HOST:PORT); omit to skip gRPC.") var encoder: String?
  @Option(help: "Seconds per measurement.") var seconds: Double = 3
  @Option(help: "Concurrent clients for the batch-1 dynamic-batching figure.") var clients: Int = 16

  func run() async throws {
    let test = try DataSource.fashionMNIST(directory: DataSource.debianFashionMNIST).load(.test)
    let batch256 = test.inputs.rows(0..<256)
    let threads = BLAS.threadCount
    var result: [String: Any] = [
      "seconds": seconds, "threads": threads, "blas_core": BLAS.coreName,
      "blas_coretype_env": ProcessInfo.processInfo.environment["OPENBLAS_CORETYPE"] ?? "",
      "sgemm_gflops": IndexBench.sgemmGFLOPs(),
    ]
    // Two ways to use the cores: OpenBLAS spreads each GEMM (the network runs chunks
    // one after another), or OpenBLAS runs single-threaded and the network runs
    // chunks (or, for one row, GEMM slices) on every core. Best of the two is reported.
    var modes: [String: [String: [String: Double]]] = ["blas_threads": [:], "network_threads": [:]]
    var firstRows: [String: [Float]] = [:]
    var flops: [String: Int] = [:]
    for version in versions.split(separator: ",").map(String.init) {
      let model = try ModelVersion.load(from: URL(fileURLWithPath: models).appendingPathComponent(version))
      let backbone = model.backbone
      flops[version] = Self.flopsPerEmbedding(backbone)
      firstRows[version] = backbone.embed(test.inputs.rows(0..<1)).l2NormalizedRows().values
      for (mode, blasThreads) in [("blas_threads", threads), ("network_threads", 1)] {
        BLAS.setThreadCount(blasThreads)
        var rates: [String: Double] = [:]
        rates["1"] = measure(rowsPerCall: 1) { i in _ = backbone.embed(test.inputs.rows((i % 256)..<(i % 256 + 1))).l2NormalizedRows() }
        rates["256"] = measure(rowsPerCall: 256) { _ in _ = backbone.embed(batch256).l2NormalizedRows() }
        modes[mode]![version] = rates
      }
      BLAS.setThreadCount(threads)
    }
    var inProcess: [String: [String: Double]] = [:]
    for version in flops.keys {
      for batch in ["1", "256"] {
        inProcess[version, default: [:]][batch] = modes.values.compactMap { $0[version]?[batch] }.max()
      }
    }
    result["in_process"] = inProcess
    result["in_process_modes"] = modes
    result["flops_per_embedding"] = flops
    result["first_embedding"] = firstRows
    if let encoder {
      let address = try ServiceAddress(parsing: encoder)
      var grpc: [String: Any] = [:]
      for version in versions.split(separator: ",").map(String.init) {
        let rates = try await withConnection(to: address) { connection -> [String: Double] in
          let client = EncoderClient(connection)
          let shape = [1, 28, 28]
          _ = try await client.embed(batch256, rowShape: shape, version: version)
          var rates: [String: Double] = [:]
          rates["1"] = try await measureAsync(rowsPerCall: 1) { i in
            _ = try await client.embed(test.inputs.rows((i % 256)..<(i % 256 + 1)), rowShape: shape, version: version)
          }
          rates["256"] = try await measureAsync(rowsPerCall: 256) { _ in
            _ = try await client.embed(batch256, rowShape: shape, version: version)
          }
          rates["1x\(clients)"] = try await measureConcurrent(clients: clients) { i in
            _ = try await client.embed(test.inputs.rows((i % 256)..<(i % 256 + 1)), rowShape: shape, version: version)
          }
          return rates
        }
        grpc[version] = rates
      }
      result["grpc"] = grpc
      // Batch-1 latency budget: a bare unary RPC (ListModels, no forward pass) plus
      // the forward pass as the encoder runs it (OpenBLAS single-threaded).
      let bare = try await withConnection(to: address) { connection -> Double in
        let client = EncoderClient(connection)
        _ = try await client.listModels()
        return try await measureAsync(rowsPerCall: 1) { _ in _ = try await client.listModels() }
      }
      result["bare_rpc_per_second"] = bare
    }
    let data = try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys])
    print(String(decoding: data, as: UTF8.self))
  }

  /// Floating-point operations of one embedding: 2 per multiply-add of every
  /// convolution and fully connected layer.
  static func flopsPerEmbedding(_ backbone: Backbone) -> Int {
    backbone.network.layers.reduce(0) { total, layer in
      switch layer {
      case let conv as Conv2D: return total + 2 * conv.shape.pixels * conv.shape.outChannels * conv.shape.patchSize
      case let linear as Linear: return total + 2 * linear.inputWidth * linear.outputWidth
      default: return total
      }
    }
  }

  /// Rows per second of `body` called repeatedly for `seconds` (after a warm-up call).
  func measure(rowsPerCall: Int, _ body: (Int) -> Void) -> Double {
    body(0)
    let clock = ContinuousClock()
    let start = clock.now
    var calls = 0
    while clock.now - start < .seconds(seconds) {
      body(calls)
      calls += 1
    }
    return Double(calls * rowsPerCall) / (clock.now - start).inSeconds
  }

  func measureAsync(rowsPerCall: Int, _ body: (Int) async throws -> Void) async throws -> Double {
    try await body(0)
    let clock = ContinuousClock()
    let start = clock.now
    var calls = 0
    while clock.now - start < .seconds(seconds) {
      try await body(calls)
      calls += 1
    }
    return Double(calls * rowsPerCall) / (clock.now - start).inSeconds
  }

  /// Rows per second with `clients` concurrent callers of one row each.
  func measureConcurrent(clients: Int, _ body: @escaping @Sendable (Int) async throws -> Void) async throws -> Double {
    let clock = ContinuousClock()
    let start = clock.now
    let limit = Duration.seconds(seconds)
    let total = try await withThrowingTaskGroup(of: Int.self) { group in
      for client in 0..<clients {
        group.addTask {
          var calls = 0
          while clock.now - start < limit {
            try await body(client * 1000 + calls)
            calls += 1
          }
          return calls
        }
      }
      return try await group.reduce(0, +)
    }
    return Double(total) / (clock.now - start).inSeconds
  }
}
