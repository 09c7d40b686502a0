import BCTNumerics

/// 2x2 max pooling with stride 2 over `[N, C, H, W]` activations (odd edges dropped).
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
    let (oh, ow) = (outputHeight, outputWidthPixels)
    var output = Matrix(uninitializedRows: n, columns: outputWidth)
    var argmax = [Int32](repeating: 0, count: n * outputWidth)
    input.values.withUnsafeBufferPointer { x in
      output.values.withUnsafeMutableBufferPointer { y in
        argmax.withUnsafeMutableBufferPointer { arg in
          parallelChunks(n * channels, minimumChunk: 16) { planes in
            for plane in planes {
              let inBase = plane * height * width
              let outBase = plane * oh * ow
              // argmax is stored relative to the sample, as backward indexes it.
              let sampleBase = plane / channels * channels * height * width
              for oy in 0..<oh {
                for ox in 0..<ow {
                  let corner = inBase + 2 * oy * width + 2 * ox
                  var best = corner
                  if x[corner + 1] > x[best] { best = corner + 1 }
                  if x[corner + width] > x[best] { best = corner + width }
                  if x[corner + width + 1] > x[best] { best = corner + width + 1 }
                  y[outBase + oy * ow + ox] = x[best]
                  arg[outBase + oy * ow + ox] = Int32(best - sampleBase)
                }
              }
            }
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
