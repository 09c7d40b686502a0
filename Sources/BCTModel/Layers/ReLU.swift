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

/// Flattens channels-last `[N, H, W, C]` activations to PyTorch's `[N, C*H*W]`
/// order `(c, y, x)`, so that the next `Linear` layer's weights are PyTorch's own
/// (layer indices match `nn.Sequential` too).
public struct Flatten: Layer {
  public let channels: Int
  public let height: Int
  public let width: Int
  public var inputWidth: Int { channels * height * width }
  public var outputWidth: Int { inputWidth }

  /// Flattens `[N, height, width, channels]` images.
  public init(channels: Int, height: Int, width: Int) {
    self.channels = channels
    self.height = height
    self.width = width
  }

  /// A flatten of rows that are already flat (the identity).
  public init(width: Int) { self.init(channels: width, height: 1, width: 1) }

  public func forward(_ input: Matrix, parameters: [Matrix]) -> (output: Matrix, context: LayerContext) {
    (permuted(input, toChannelsFirst: true), .none)
  }

  public func backward(
    _ outputGradient: Matrix, parameters: [Matrix], context: LayerContext, needsInputGradient: Bool
  ) -> (inputGradient: Matrix?, parameterGradients: [Matrix]) {
    (needsInputGradient ? permuted(outputGradient, toChannelsFirst: false) : nil, [])
  }

  private func permuted(_ input: Matrix, toChannelsFirst: Bool) -> Matrix {
    guard channels > 1 && height * width > 1 else { return input }
    var output = Matrix(uninitializedRows: input.rows, columns: inputWidth)
    input.values.withUnsafeBufferPointer { x in
      output.values.withUnsafeMutableBufferPointer { y in
        parallelChunks(input.rows, minimumChunk: 16) { samples in
          ImageKernels.permute(
            x.baseAddress! + samples.lowerBound * inputWidth, images: samples.count,
            height: height, width: width, channels: channels, toChannelsFirst: toChannelsFirst,
            into: y.baseAddress! + samples.lowerBound * inputWidth)
        }
      }
    }
    return output
  }
}
