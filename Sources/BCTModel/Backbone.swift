import BCTNumerics

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
  public var network: Sequential

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

  /// Raw (unnormalised) embeddings of raw inputs, computed in batches of `batchSize` rows.
  public func embed(_ raw: Matrix, batchSize: Int = 1024) -> Matrix {
    precondition(raw.columns == inputWidth, "inputs have \(raw.columns) values per row, expected \(inputWidth)")
    guard raw.rows > batchSize else { return network(normalization.apply(raw)) }
    var out = Matrix(rows: raw.rows, columns: embeddingDim)
    var start = 0
    while start < raw.rows {
      let end = min(raw.rows, start + batchSize)
      let part = network(normalization.apply(raw.rows(start..<end)))
      out.values.replaceSubrange((start * embeddingDim)..<(end * embeddingDim), with: part.values)
      start = end
    }
    return out
  }
}
