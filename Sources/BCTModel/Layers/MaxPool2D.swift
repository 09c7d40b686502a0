import BCTNumerics

/// 2x2 max pooling with stride 2 over channels-last `[N, H, W, C]` activations (odd edges dropped).
public struct MaxPool2D: Layer {
  public let channels: Int
  public let height: Int
  public let width: Int

  public init(channels: Int, height: Int, width: Int) {
    self.channels = channels
    self.height = height
    self.width = width
  }

  /// Output height.
  public var outputHeight: Int { height / 2 }
  /// Output width in pixels.
  public var outputWidthPixels: Int { width / 2 }
  public var inputWidth: Int { channels * height * width }
  public var outputWidth: Int { channels * outputHeight * outputWidthPixels }

  public func forward(_ input: Matrix, parameters: [Matrix]) -> (output: Matrix, context: LayerContext) {
    let n = input.rows
    var output = Matrix(uninitializedRows: n, columns: outputWidth)
    var argmax = [Int32](repeating: 0, count: n * outputWidth)
    input.values.withUnsafeBufferPointer { x in
      output.values.withUnsafeMutableBufferPointer { y in
        argmax.withUnsafeMutableBufferPointer { arg in
          parallelChunks(n, minimumChunk: 8) { samples in
            ImageKernels.maxPool(
              x.baseAddress! + samples.lowerBound * inputWidth, images: samples.count,
              height: height, width: width, channels: channels,
              into: y.baseAddress! + samples.lowerBound * outputWidth,
              argmax: arg.baseAddress! + samples.lowerBound * outputWidth)
          }
        }
      }
    }
    return (output, .indices(argmax))
  }

  public func backward(
    _ outputGradient: Matrix, parameters: [Matrix], context: LayerContext, needsInputGradient: Bool
  ) -> (inputGradient: Matrix?, parameterGradients: [Matrix]) {
    guard needsInputGradient else { return (nil, []) }
    guard case .indices(let argmax) = context else { preconditionFailure("MaxPool2D.backward needs its argmax") }
    var dx = Matrix(rows: outputGradient.rows, columns: inputWidth)
    let outWidth = outputWidth
    outputGradient.values.withUnsafeBufferPointer { dy in
      dx.values.withUnsafeMutableBufferPointer { g in
        parallelChunks(outputGradient.rows, minimumChunk: 8) { samples in
          for sample in samples {
            let base = sample * inputWidth
            for i in 0..<outWidth {
              let o = sample * outWidth + i
              g[base + Int(argmax[o])] += dy[o]
            }
          }
        }
      }
    }
    return (dx, [])
  }
}
