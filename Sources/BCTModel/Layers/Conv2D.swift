import BCTNumerics

/// 2-D convolution, stride 1, zero padding, as im2col + one GEMM per batch.
/// Weight stored `[outChannels, inChannels*k*k]` (PyTorch's `[out, in, k, k]` flattened).
public struct Conv2D: Layer {
  public let inChannels: Int
  public let outChannels: Int
  public let kernel: Int
  public let padding: Int
  public let height: Int
  public let width: Int

  public init(inChannels: Int, outChannels: Int, kernel: Int, padding: Int, height: Int, width: Int) {
    precondition(height + 2 * padding >= kernel && width + 2 * padding >= kernel, "kernel larger than padded input")
    self.inChannels = inChannels
    self.outChannels = outChannels
    self.kernel = kernel
    self.padding = padding
    self.height = height
    self.width = width
  }

  /// Output height.
  public var outputHeight: Int { height + 2 * padding - kernel + 1 }
  /// Output width.
  public var outputWidthPixels: Int { width + 2 * padding - kernel + 1 }
  public var inputWidth: Int { inChannels * height * width }
  public var outputWidth: Int { outChannels * outputHeight * outputWidthPixels }
  var patchSize: Int { inChannels * kernel * kernel }

  public var parameterSpecs: [ParameterSpec] {
    [ParameterSpec(name: "weight", rows: outChannels, columns: patchSize,
                   tensorShape: [outChannels, inChannels, kernel, kernel]),
     ParameterSpec(name: "bias", rows: 1, columns: outChannels, tensorShape: [outChannels])]
  }

  public func initialParameters(using generator: inout SeededGenerator) -> [Matrix] {
    let bound = 1 / Float(patchSize).squareRoot()
    return [Matrix.uniform(rows: outChannels, columns: patchSize, bound: bound, using: &generator),
            Matrix.uniform(rows: 1, columns: outChannels, bound: bound, using: &generator)]
  }

  public func forward(_ input: Matrix, parameters: [Matrix]) -> (output: Matrix, context: LayerContext) {
    let n = input.rows
    let pixels = outputHeight * outputWidthPixels
    let columns = im2col(input)
    var product = Matrix(uninitializedRows: outChannels, columns: n * pixels)
    BLAS.gemm(parameters[0], columns, into: &product)
    var output = Matrix(uninitializedRows: n, columns: outputWidth)
    product.values.withUnsafeBufferPointer { p in
      parameters[1].values.withUnsafeBufferPointer { bias in
        output.values.withUnsafeMutableBufferPointer { y in
          parallelChunks(n, minimumChunk: 8) { samples in
            for sample in samples {
              for channel in 0..<outChannels {
                let source = p.baseAddress! + channel * n * pixels + sample * pixels
                let target = y.baseAddress! + (sample * outChannels + channel) * pixels
                let b = bias[channel]
                for i in 0..<pixels { target[i] = source[i] + b }
              }
            }
          }
        }
      }
    }
    return (output, .matrix(columns))
  }

  public func backward(
    _ outputGradient: Matrix, parameters: [Matrix], context: LayerContext, needsInputGradient: Bool
  ) -> (inputGradient: Matrix?, parameterGradients: [Matrix]) {
    guard case .matrix(let columns) = context else { preconditionFailure("Conv2D.backward needs its columns") }
    let n = outputGradient.rows
    let pixels = outputHeight * outputWidthPixels
    // dy [N, out, pixels] -> [out, N*pixels], the layout of the forward product.
    var gradient = Matrix(uninitializedRows: outChannels, columns: n * pixels)
    var biasGradient = Matrix(rows: 1, columns: outChannels)
    outputGradient.values.withUnsafeBufferPointer { dy in
      gradient.values.withUnsafeMutableBufferPointer { g in
        biasGradient.values.withUnsafeMutableBufferPointer { db in
          parallelChunks(outChannels, minimumChunk: 1) { channels in
            for channel in channels {
              var sum: Float = 0
              for sample in 0..<n {
                let source = dy.baseAddress! + (sample * outChannels + channel) * pixels
                let target = g.baseAddress! + channel * n * pixels + sample * pixels
                for i in 0..<pixels {
                  target[i] = source[i]
                  sum += source[i]
                }
              }
              db[channel] = sum
            }
          }
        }
      }
    }
    var weightGradient = Matrix(uninitializedRows: outChannels, columns: patchSize)
    BLAS.gemm(gradient, columns, transposeB: .transposed, into: &weightGradient)
    var inputGradient: Matrix?
    if needsInputGradient {
      var columnGradient = Matrix(uninitializedRows: patchSize, columns: n * pixels)
      BLAS.gemm(parameters[0], gradient, transposeA: .transposed, into: &columnGradient)
      inputGradient = col2im(columnGradient, samples: n)
    }
    return (inputGradient, [weightGradient, biasGradient])
  }

  /// Patches as columns: row `(c, ky, kx)`, column `(n, oy, ox)`.
  func im2col(_ input: Matrix) -> Matrix {
    var columns = Matrix(rows: patchSize, columns: input.rows * outputHeight * outputWidthPixels)
    input.values.withUnsafeBufferPointer { x in
      columns.values.withUnsafeMutableBufferPointer { cols in
        parallelChunks(patchSize, minimumChunk: 1) { patchRows in
          forEachSegment(patchRows: patchRows, samples: 0..<input.rows, of: input.rows) { column, image, range in
            for ox in range { cols[column + ox] = x[image + ox] }
          }
        }
      }
    }
    return columns
  }

  /// The adjoint of `im2col`: sums patch gradients back onto the input.
  func col2im(_ columns: Matrix, samples n: Int) -> Matrix {
    var dx = Matrix(rows: n, columns: inputWidth)
    columns.values.withUnsafeBufferPointer { cols in
      dx.values.withUnsafeMutableBufferPointer { x in
        parallelChunks(n, minimumChunk: 8) { samples in
          forEachSegment(patchRows: 0..<patchSize, samples: samples, of: n) { column, image, range in
            for ox in range { x[image + ox] += cols[column + ox] }
          }
        }
      }
    }
    return dx
  }

  /// Visits every contiguous run that im2col copies: for each patch row
  /// `(c, ky, kx)`, sample and output row, the offset of the run in the column
  /// matrix, the matching offset in the input (shifted so both are indexed by
  /// `ox`), and the `ox` range that falls inside the image (the rest is padding).
  /// Restricted to some patch rows and samples of a batch of `n`, so that
  /// workers can split the traversal without sharing output memory.
  private func forEachSegment(
    patchRows: Range<Int>, samples: Range<Int>, of n: Int,
    _ body: (_ column: Int, _ image: Int, _ range: Range<Int>) -> Void
  ) {
    let (oh, ow) = (outputHeight, outputWidthPixels)
    for row in patchRows {
      let (c, ky, kx) = (row / (kernel * kernel), row / kernel % kernel, row % kernel)
      let range = max(0, padding - kx)..<max(max(0, padding - kx), min(ow, width + padding - kx))
      for sample in samples {
        let imageBase = (sample * inChannels + c) * height * width
        for oy in 0..<oh {
          let iy = oy + ky - padding
          guard iy >= 0 && iy < height else { continue }
          body(row * n * oh * ow + (sample * oh + oy) * ow, imageBase + iy * width + kx - padding, range)
        }
      }
    }
  }
}
