import BCTNumerics
import Synchronization

/// A versioned embedding network: raw inputs in, embeddings out.
public struct Backbone: Sendable {
  /// Architecture and hyper-parameters.
  public let architecture: Architecture
  /// Shape of one input, e.g. `[1, 28, 28]`.
  public let inputShape: [Int]
  /// Length of one embedding.
  public let embeddingDim: Int
  /// Applied to raw inputs before the network.
  public let normalization: InputNormalization
  /// The network and its parameters.
  public var network: Sequential {
    didSet { prepared = PreparedInference() }
  }
  /// `network` prepared for inference, built at first use after each change.
  private var prepared = PreparedInference()

  /// A freshly initialised backbone.
  public init(
    architecture: Architecture, inputShape: [Int], embeddingDim: Int,
    normalization: InputNormalization, seed: UInt64
  ) throws {
    var generator = SeededGenerator(seed: seed)
    try self.init(
      architecture: architecture, inputShape: inputShape, embeddingDim: embeddingDim,
      normalization: normalization, generator: &generator)
  }

  /// A freshly initialised backbone drawing from `generator`.
  public init(
    architecture: Architecture, inputShape: [Int], embeddingDim: Int,
    normalization: InputNormalization, generator: inout SeededGenerator
  ) throws {
    guard embeddingDim > 0 else { throw ModelError("embedding dimension must be positive, got \(embeddingDim)") }
    self.architecture = architecture
    self.inputShape = inputShape
    self.embeddingDim = embeddingDim
    self.normalization = normalization
    self.network = Sequential(
      layers: try architecture.layers(inputShape: inputShape, embeddingDim: embeddingDim), generator: &generator)
  }

  /// A backbone over given parameters.
  public init(
    architecture: Architecture, inputShape: [Int], embeddingDim: Int,
    normalization: InputNormalization, parameters: [[Matrix]]
  ) throws {
    self.architecture = architecture
    self.inputShape = inputShape
    self.embeddingDim = embeddingDim
    self.normalization = normalization
    self.network = Sequential(
      layers: try architecture.layers(inputShape: inputShape, embeddingDim: embeddingDim), parameters: parameters)
  }

  /// Width of one raw input row.
  public var inputWidth: Int { inputShape.reduce(1, *) }

  /// The network prepared for inference (fused steps, reordered weights, reused
  /// scratch memory); built once per parameter change and shared by copies.
  public var inference: InferenceNetwork { prepared.network(network, normalization: normalization) }

  /// Raw (unnormalised) embeddings of raw inputs.
  public func embed(_ raw: Matrix) -> Matrix {
    precondition(raw.columns == inputWidth, "inputs have \(raw.columns) values per row, expected \(inputWidth)")
    return inference(raw)
  }
}

/// Holds a backbone's `InferenceNetwork` once built.
private final class PreparedInference: Sendable {
  private let built = Mutex<InferenceNetwork?>(nil)

  func network(_ network: Sequential, normalization: InputNormalization) -> InferenceNetwork {
    built.withLock { built in
      if let built { return built }
      let prepared = InferenceNetwork(network, normalization: normalization)
      built = prepared
      return prepared
    }
  }
}
