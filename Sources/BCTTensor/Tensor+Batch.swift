import BCTNumerics
import BCTProto

extension Bct_V1_Tensor {
  /// The rows of `batch` as a `[rows, ...rowShape]` tensor in `float32_le` bytes.
  public init(batch: Matrix, rowShape: [Int]) {
    self.init()
    shape = [Int64(batch.rows)] + rowShape.map(Int64.init)
    float32Le = TensorCodec.littleEndianBytes(batch.values)
  }
}
