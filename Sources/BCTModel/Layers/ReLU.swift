import BCTNumerics

/// Rectified linear unit, element-wise `max(0, x)`.
public struct ReLU: Layer {
  public let inputWidth: Int
  public var outputWidth: Int { inputWidth }

  public init(width: Int) { inputWidth = width }

  public func forward(_ input: Matrix, parameters: [Matrix]) -> (output: Matrix, context: LayerContext) {
    var output = input
    output.values.withUnsafeMutableBufferPointer { v in
      parallelChunks(v.count, minimumChunk: 1 << 16) { range in
        for i in range { v[i] = max(v[i], 0) }
      }
    }
    return (output, .matrix(output))
  }

  public func backward(
    _ outputGradient: Matrix, parameters: [Matrix], context: LayerContext, needsInputGradient: Bool
  ) -> (inputGradient: Matrix?, parameterGradients: [Matrix]) {
    guard needsInputGradient else { return (nil, []) }
    guard case .matrix(let output) = context else { preconditionFailure("ReLU.backward needs its output") }
    var dx = outputGradient
    dx.values.withUnsafeMutableBufferPointer { g in
      output.values.withUnsafeBufferPointer { y in
        parallelChunks(g.count, minimumChunk: 1 << 16) { range in
          for i in range { g[i] = y[i] > 0 ? g[i] : 0 }
        }
      }
    }
    return (dx, [])
  }
}

/// Reshapes `[N, C, H, W]` activations to `[N, C*H*W]`: the identity on our
/// flattened layout, kept so layer indices match PyTorch's `nn.Sequential`.
public struct Flatten: Layer {
  public let inputWidth: Int
  public var outputWidth: Int { inputWidth }

  public init(width: Int) { inputWidth = width }

  public func forward(_ input: Matrix, parameters: [Matrix]) -> (output: Matrix, context: LayerContext) {
    (input, .none)
  }

  public func backward(
    _ outputGradient: Matrix, parameters: [Matrix], context: LayerContext, needsInputGradient: Bool
  ) -> (inputGradient: Matrix?, parameterGradients: [Matrix]) {
    (needsInputGradient ? outputGradient : nil, [])
  }
}
