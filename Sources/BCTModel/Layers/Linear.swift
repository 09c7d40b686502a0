import BCTNumerics

/// Fully connected layer `y = x W^T + b`, with `W` stored `[outputs, inputs]` as in PyTorch.
public struct Linear: Layer {
  public let inputWidth: Int
  public let outputWidth: Int

  public init(inputs: Int, outputs: Int) {
    inputWidth = inputs
    outputWidth = outputs
  }

  public var parameterSpecs: [ParameterSpec] {
    [ParameterSpec(name: "weight", rows: outputWidth, columns: inputWidth, tensorShape: [outputWidth, inputWidth]),
     ParameterSpec(name: "bias", rows: 1, columns: outputWidth, tensorShape: [outputWidth])]
  }

  public func initialParameters(using generator: inout SeededGenerator) -> [Matrix] {
    let bound = 1 / Float(inputWidth).squareRoot()
    return [Matrix.uniform(rows: outputWidth, columns: inputWidth, bound: bound, using: &generator),
            Matrix.uniform(rows: 1, columns: outputWidth, bound: bound, using: &generator)]
  }

  public func forward(_ input: Matrix, parameters: [Matrix]) -> (output: Matrix, context: LayerContext) {
    var output = Matrix(uninitializedRows: input.rows, columns: outputWidth)
    BLAS.gemm(input, parameters[0], transposeB: .transposed, into: &output)
    output.addRowVector(parameters[1])
    return (output, .matrix(input))
  }

  public func backward(
    _ outputGradient: Matrix, parameters: [Matrix], context: LayerContext, needsInputGradient: Bool
  ) -> (inputGradient: Matrix?, parameterGradients: [Matrix]) {
    guard case .matrix(let input) = context else { preconditionFailure("Linear.backward needs its input") }
    var weightGradient = Matrix(uninitializedRows: outputWidth, columns: inputWidth)
    BLAS.gemm(outputGradient, input, transposeA: .transposed, into: &weightGradient)
    let biasGradient = outputGradient.columnSums()
    var inputGradient: Matrix?
    if needsInputGradient {
      var dx = Matrix(uninitializedRows: outputGradient.rows, columns: inputWidth)
      BLAS.gemm(outputGradient, parameters[0], into: &dx)
      inputGradient = dx
    }
    return (inputGradient, [weightGradient, biasGradient])
  }
}
