import BCTTensor
import BCTNumerics
import BCTProto

extension Bct_V1_Document {
  /// A document carrying row `row` of `inputs` as its raw input of `shape`.
  public init(id: String, metadata: [String: String], inputs: Matrix, row: Int, shape: [Int]) {
    self.init()
    self.id = id
    self.metadata = metadata
    input.shape = shape.map(Int64.init)
    input.float32Le = TensorCodec.littleEndianBytes(Array(inputs.values[(row * inputs.columns)..<((row + 1) * inputs.columns)]))
  }

  /// A document carrying row `row` of `embeddings` as its embedding by `version`.
  public init(id: String, metadata: [String: String], embeddings: Matrix, row: Int, version: String) {
    self.init()
    self.id = id
    self.metadata = metadata
    embedding.modelVersion = version
    embedding.values = Array(embeddings.values[(row * embeddings.columns)..<((row + 1) * embeddings.columns)])
  }
}
