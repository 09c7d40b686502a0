import ArgumentParser

/// `bct-bench`: the Swift side of the benchmark scripts in `scripts/bench-*.sh`,
/// which run it and the peer (PyTorch, ONNX Runtime, Faiss) on the same data and
/// print the ratios.
@main
struct BenchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bct-bench",
    abstract: "Measure bct's encoder and index; prints one JSON object per run.",
    subcommands: [EncoderBench.self, IndexBench.self, ANNBench.self, RestartBench.self, QuantizedBench.self, FilterBench.self, MilvusBench.self, LoadBench.self, FuzzCommand.self]
  )
}
