import BCTNumerics

/// What a layer keeps from its forward pass for its backward pass.
public enum LayerContext: Sendable {
  case none
  case matrix(Matrix)
  case indices([Int32])
}

/// One differentiable step of a network. Activations are matrices with one row
/// per example; image activations between layers are channels-last `(row, column,
/// channel)` (`ImageLayout`); a network's raw input is channels-first, as PyTorch's.
public protocol Layer: Sendable {
  /// Width of one input row.
  var inputWidth: Int { get }
  /// Width of one output row.
  var outputWidth: Int { get }
  /// Names and shapes (`[rows, columns]` as stored; `tensorShape` for files) of the parameters.
  var parameterSpecs: [ParameterSpec] { get }
  /// Fresh parameters, initialised as PyTorch does for the same layer.
  func initialParameters(using generator: inout SeededGenerator) -> [Matrix]
  /// The output for `input`, and what the backward pass needs.
  func forward(_ input: Matrix, parameters: [Matrix]) -> (output: Matrix, context: LayerContext)
  /// Gradients with respect to the input (when asked for) and to each parameter.
  func backward(
    _ outputGradient: Matrix, parameters: [Matrix], context: LayerContext, needsInputGradient: Bool
  ) -> (inputGradient: Matrix?, parameterGradients: [Matrix])
}

/// A parameter's name within its layer and its shapes.
public struct ParameterSpec: Sendable, Equatable {
  /// "weight" or "bias".
  public let name: String
  /// Rows of the stored matrix.
  public let rows: Int
  /// Columns of the stored matrix.
  public let columns: Int
  /// Shape in files (PyTorch's), e.g. `[out, in, k, k]` for a convolution weight.
  public let tensorShape: [Int]
}

extension Layer {
  public var parameterSpecs: [ParameterSpec] { [] }
  public func initialParameters(using generator: inout SeededGenerator) -> [Matrix] { [] }
}

extension Matrix {
  /// Uniform samples in `[-bound, bound)`.
  static func uniform(rows: Int, columns: Int, bound: Float, using generator: inout SeededGenerator) -> Matrix {
    var m = Matrix(rows: rows, columns: columns)
    for i in m.values.indices { m.values[i] = (generator.nextUniform() * 2 - 1) * bound }
    return m
  }
}
