import BCTNumerics
import BCTProto

extension Bct_V1_Tensor {
  /// The rows of `batch` as a `[rows, ...rowShape]` tensor in `float32_le` bytes.
  public init(batch: Matrix, rowShape: [Int]) {
    self.init()
    shape = [Int64(batch.rows)] + rowShape.map(Int64.init)
    float32Le = TensorBytes.littleEndian(batch.values)
  }
}

extension Bct_V1_Document {
  /// A document carrying row `row` of `inputs` as its raw input of `shape`.
  public init(id: String, metadata: [String: String], inputs: Matrix, row: Int, shape: [Int]) {
    self.init()
    self.id = id
    self.metadata = metadata
    input.shape = shape.map(Int64.init)
    input.float32Le = TensorBytes.littleEndian(Array(inputs.values[(row * inputs.columns)..<((row + 1) * inputs.columns)]))
  }
}
