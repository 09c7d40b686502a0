import BCTAdapters
import BCTNumerics
import BCTProto
import BCTTensor

extension EmbeddingAdapter {
  /// The adapter a GetAdapter response carries, checked (shapes agree, weights
  /// finite); an answer that does not decode is the encoder's fault.
  init(_ response: Bct_V1_GetAdapterResponse) throws {
    let info = response.info
    func matrix(_ tensor: Bct_V1_Tensor, rows: Int, columns: Int, what: String) throws -> Matrix {
      var tensor = tensor
      if rows == 1 && tensor.shape == [Int64(columns)] { tensor.shape = [1, Int64(columns)] }
      guard rows >= 1, columns >= 1, tensor.shape == [Int64(rows), Int64(columns)] else {
        throw EncoderError.refused(code: .internalError, message: "the encoder's adapter \(what) has shape \(tensor.shape), expected [\(rows), \(columns)]")
      }
      do {
        return try TensorCodec.decodeBatch(tensor, rowShape: [columns], what: what)
      } catch {
        throw EncoderError.refused(code: .internalError, message: "the encoder's adapter \(what) does not decode: \(error)")
      }
    }
    let (input, output) = (Int(info.inputDim), Int(info.outputDim))
    guard let kind = AdapterKind(rawValue: info.kind), input >= 1, output >= 1 else {
      throw EncoderError.refused(code: .internalError, message: "the encoder answered an adapter of kind \"\(info.kind)\", \(input) -> \(output)")
    }
    var residual: Residual?
    if kind == .mlp {
      let hidden = Int(response.innerBias.shape.first ?? 0)
      residual = Residual(
        inner: try matrix(response.inner, rows: input, columns: hidden, what: "inner"),
        innerBias: try matrix(response.innerBias, rows: 1, columns: hidden, what: "inner_bias"),
        outer: try matrix(response.outer, rows: hidden, columns: output, what: "outer"))
    }
    self.init(
      kind: kind, linear: try matrix(response.linear, rows: input, columns: output, what: "linear"),
      bias: try matrix(response.bias, rows: 1, columns: output, what: "bias"), residual: residual)
    if let problem { throw EncoderError.refused(code: .internalError, message: "the encoder's adapter: \(problem)") }
  }
}
