import BCTNumerics

/// 2-D convolution, stride 1, zero padding, as im2col + one GEMM over the whole
/// batch. Output channels-last; input channels-last too, except a network's first
/// convolution, which reads images as they arrive (`ImageLayout.channelsFirst`; the
/// same bytes when there is one channel). Weight stored `[outChannels,
/// inChannels*k*k]` (PyTorch's `[out, in, k, k]` flattened).
public struct Conv2D: Layer {
  /// Sizes and input layout.
  public let shape: ConvolutionShape

  public init(
    inChannels: Int, outChannels: Int, kernel: Int, padding: Int, height: Int, width: Int,
    inputLayout: ImageLayout = .channelsLast
  ) {
    precondition(height + 2 * padding >= kernel && width + 2 * padding >= kernel, "kernel larger than padded input")
    shape = ConvolutionShape(
      inChannels: inChannels, outChannels: outChannels, kernel: kernel, padding: padding,
      height: height, width: width, inputLayout: inputLayout)
  }

  public var inputWidth: Int { shape.inputSize }
  public var outputWidth: Int { shape.outChannels * shape.pixels }

  public var parameterSpecs: [ParameterSpec] {
    [ParameterSpec(name: "weight", rows: shape.outChannels, columns: shape.patchSize,
                   tensorShape: [shape.outChannels, shape.inChannels, shape.kernel, shape.kernel]),
     ParameterSpec(name: "bias", rows: 1, columns: shape.outChannels, tensorShape: [shape.outChannels])]
  }

  public func initialParameters(using generator: inout SeededGenerator) -> [Matrix] {
    let bound = 1 / Float(shape.patchSize).squareRoot()
    return [Matrix.uniform(rows: shape.outChannels, columns: shape.patchSize, bound: bound, using: &generator),
            Matrix.uniform(rows: 1, columns: shape.outChannels, bound: bound, using: &generator)]
  }

  public func forward(_ input: Matrix, parameters: [Matrix]) -> (output: Matrix, context: LayerContext) {
    let n = input.rows
    let columns = im2col(input)
    let weights = ImageKernels.patchMajorWeights(shape, parameters[0])
    // [n * pixels, patch] x [out, patch]^T = [n * pixels, out]: channels-last output.
    var product = Matrix(uninitializedRows: n * shape.pixels, columns: shape.outChannels)
    BLAS.gemm(columns, weights, transposeB: .transposed, into: &product)
    product.values.withUnsafeMutableBufferPointer { y in
      parameters[1].values.withUnsafeBufferPointer { bias in
        parallelChunks(n, minimumChunk: 8) { samples in
          ImageKernels.addBias(
            y.baseAddress! + samples.lowerBound * outputWidth, rows: samples.count * shape.pixels,
            width: shape.outChannels, bias: bias.baseAddress!, relu: false)
        }
      }
    }
    return (Matrix(rows: n, columns: outputWidth, values: product.values), .matrix(columns))
  }

  public func backward(
    _ outputGradient: Matrix, parameters: [Matrix], context: LayerContext, needsInputGradient: Bool
  ) -> (inputGradient: Matrix?, parameterGradients: [Matrix]) {
    guard case .matrix(let columns) = context else { preconditionFailure("Conv2D.backward needs its columns") }
    let n = outputGradient.rows
    let gradient = Matrix(rows: n * shape.pixels, columns: shape.outChannels, values: outputGradient.values)
    var weightGradient = Matrix(uninitializedRows: shape.outChannels, columns: shape.patchSize)
    BLAS.gemm(gradient, columns, transposeA: .transposed, into: &weightGradient)
    let biasGradient = gradient.columnSums()
    var inputGradient: Matrix?
    if needsInputGradient {
      var columnGradient = Matrix(uninitializedRows: n * shape.pixels, columns: shape.patchSize)
      BLAS.gemm(gradient, ImageKernels.patchMajorWeights(shape, parameters[0]), into: &columnGradient)
      inputGradient = col2im(columnGradient, samples: n)
    }
    return (inputGradient, [ImageKernels.pytorchWeights(shape, weightGradient), biasGradient])
  }

  /// Patches as rows: row `(n, oy, ox)`, column `(ky, kx, c)`.
  func im2col(_ input: Matrix) -> Matrix {
    var columns = Matrix(uninitializedRows: input.rows * shape.pixels, columns: shape.patchSize)
    input.values.withUnsafeBufferPointer { x in
      columns.values.withUnsafeMutableBufferPointer { cols in
        parallelChunks(input.rows, minimumChunk: 4) { samples in
          ImageKernels.im2col(
            shape, input: x.baseAddress! + samples.lowerBound * shape.inputSize, images: samples.count,
            into: cols.baseAddress! + samples.lowerBound * shape.pixels * shape.patchSize)
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
        parallelChunks(n, minimumChunk: 4) { samples in
          ImageKernels.col2im(
            shape, rows: cols.baseAddress! + samples.lowerBound * shape.pixels * shape.patchSize,
            images: samples.count, into: x.baseAddress! + samples.lowerBound * shape.inputSize)
        }
      }
    }
    return dx
  }
}
