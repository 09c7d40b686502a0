import BCTNumerics

/// Where element (channel, row, column) of one image sits in its row of a batch.
public enum ImageLayout: Sendable, Equatable {
  /// `(c, y, x)`, PyTorch's NCHW: how raw inputs arrive.
  case channelsFirst
  /// `(y, x, c)`, NHWC: how every activation between layers is stored, so that a
  /// convolution's patch rows are runs of contiguous channels and its GEMM output
  /// is already the next layer's input.
  case channelsLast
}

/// A stride-1, zero-padded `k x k` convolution over `height x width` images: the
/// sizes every convolution kernel works from.
public struct ConvolutionShape: Sendable, Equatable {
  public let inChannels: Int
  public let outChannels: Int
  public let kernel: Int
  public let padding: Int
  public let height: Int
  public let width: Int
  /// Layout of the input images (the output is always channels-last).
  public let inputLayout: ImageLayout

  public var outputHeight: Int { height + 2 * padding - kernel + 1 }
  public var outputWidth: Int { width + 2 * padding - kernel + 1 }
  /// Output pixels per image.
  public var pixels: Int { outputHeight * outputWidth }
  /// Values in one patch: `kernel * kernel * inChannels`, ordered `(ky, kx, c)`.
  public var patchSize: Int { kernel * kernel * inChannels }
  /// Values in one input image.
  public var inputSize: Int { inChannels * height * width }

  /// Strides of channel, row and column in one input image.
  var inputStrides: (channel: Int, row: Int, column: Int) {
    switch inputLayout {
    case .channelsFirst: return (height * width, width, 1)
    case .channelsLast: return (1, width * inChannels, inChannels)
    }
  }
}

/// The loops between BLAS calls of a CNN: patch extraction and its adjoint,
/// bias/ReLU/pooling epilogues, and layout changes. Shared by training (the
/// layers) and inference (`InferenceNetwork`); single-threaded, so callers
/// choose how to split work across cores.
public enum ImageKernels {
  /// im2col: one row per output pixel of `images` consecutive images, `(n, oy, ox)`
  /// order, each row the pixel's patch in `(ky, kx, c)` order with zeros for padding.
  public static func im2col(
    _ s: ConvolutionShape, input: UnsafePointer<Float>, images: Int, into rows: UnsafeMutablePointer<Float>
  ) {
    let (cs, ys, xs) = s.inputStrides
    let (oh, ow, k, c, p) = (s.outputHeight, s.outputWidth, s.kernel, s.inChannels, s.padding)
    let patch = s.patchSize
    let contiguous = s.inputLayout == .channelsLast || c == 1
    for image in 0..<images {
      let x = input + image * s.inputSize
      for oy in 0..<oh {
        for ox in 0..<ow {
          let row = rows + ((image * oh + oy) * ow + ox) * patch
          for ky in 0..<k {
            let iy = oy + ky - p
            let line = row + ky * k * c
            guard iy >= 0 && iy < s.height else {
              for i in 0..<(k * c) { line[i] = 0 }
              continue
            }
            // kx values inside the image: ix = ox + kx - p in 0..<width.
            let first = max(0, p - ox)
            let last = min(k, s.width + p - ox)
            for i in 0..<(first * c) { line[i] = 0 }
            for i in (last * c)..<max(last * c, k * c) { line[i] = 0 }
            guard first < last else { continue }
            let source = x + iy * ys + (ox + first - p) * xs
            if contiguous {
              let run = (last - first) * c
              // A call per short run (one-channel images) costs more than the copy.
              if run <= 16 {
                for i in 0..<run { line[first * c + i] = source[i] }
              } else {
                (line + first * c).update(from: source, count: run)
              }
            } else {
              for kx in first..<last {
                for channel in 0..<c { line[kx * c + channel] = source[(kx - first) * xs + channel * cs] }
              }
            }
          }
        }
      }
    }
  }

  /// The adjoint of `im2col`: adds each row's patch gradient onto `input` (which the
  /// caller zeroes first).
  public static func col2im(
    _ s: ConvolutionShape, rows: UnsafePointer<Float>, images: Int, into input: UnsafeMutablePointer<Float>
  ) {
    let (cs, ys, xs) = s.inputStrides
    let (oh, ow, k, c, p) = (s.outputHeight, s.outputWidth, s.kernel, s.inChannels, s.padding)
    for image in 0..<images {
      let x = input + image * s.inputSize
      for oy in 0..<oh {
        for ox in 0..<ow {
          let row = rows + ((image * oh + oy) * ow + ox) * s.patchSize
          for ky in 0..<k {
            let iy = oy + ky - p
            guard iy >= 0 && iy < s.height else { continue }
            for kx in max(0, p - ox)..<max(max(0, p - ox), min(k, s.width + p - ox)) {
              let target = x + iy * ys + (ox + kx - p) * xs
              let source = row + (ky * k + kx) * c
              for channel in 0..<c { target[channel * cs] += source[channel] }
            }
          }
        }
      }
    }
  }

  /// PyTorch's `[out, in, k, k]` weight as `[out, (ky, kx, c)]`, the patch order of `im2col`.
  public static func patchMajorWeights(_ s: ConvolutionShape, _ weight: Matrix) -> Matrix {
    var out = Matrix(uninitializedRows: s.outChannels, columns: s.patchSize)
    let kk = s.kernel * s.kernel
    for o in 0..<s.outChannels {
      for c in 0..<s.inChannels {
        for t in 0..<kk { out[o, t * s.inChannels + c] = weight[o, c * kk + t] }
      }
    }
    return out
  }

  /// The inverse of `patchMajorWeights`, for weight gradients.
  public static func pytorchWeights(_ s: ConvolutionShape, _ patchMajor: Matrix) -> Matrix {
    var out = Matrix(uninitializedRows: s.outChannels, columns: s.patchSize)
    let kk = s.kernel * s.kernel
    for o in 0..<s.outChannels {
      for c in 0..<s.inChannels {
        for t in 0..<kk { out[o, c * kk + t] = patchMajor[o, t * s.inChannels + c] }
      }
    }
    return out
  }

  /// Adds `bias` to each of `count` rows of `width` values in place, then clamps at
  /// zero when `relu`.
  public static func addBias(
    _ values: UnsafeMutablePointer<Float>, rows count: Int, width: Int, bias: UnsafePointer<Float>?, relu: Bool
  ) {
    for r in 0..<count {
      let row = values + r * width
      switch (bias, relu) {
      case (let b?, true): for i in 0..<width { row[i] = max(row[i] + b[i], 0) }
      case (let b?, false): for i in 0..<width { row[i] += b[i] }
      case (nil, true): for i in 0..<width { row[i] = max(row[i], 0) }
      case (nil, false): break
      }
    }
  }

  /// The epilogue of a convolution's GEMM over channels-last `[images, height, width,
  /// channels]`: adds `bias`, then 2x2 max pooling with stride 2 (odd edges dropped),
  /// then ReLU, into `[images, height/2, width/2, channels]`. ReLU after the pool
  /// equals ReLU before it (max commutes with a monotone map) on a quarter of the values.
  public static func biasMaxPoolReLU(
    _ input: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels c: Int,
    bias: UnsafePointer<Float>?, relu: Bool, into output: UnsafeMutablePointer<Float>
  ) {
    let (oh, ow) = (height / 2, width / 2)
    let floor: Float = relu ? 0 : -.infinity
    for image in 0..<images {
      for oy in 0..<oh {
        for ox in 0..<ow {
          let a = input + ((image * height + 2 * oy) * width + 2 * ox) * c
          let b = a + c
          let d = a + width * c
          let e = d + c
          let y = output + ((image * oh + oy) * ow + ox) * c
          if let bias {
            for i in 0..<c { y[i] = max(max(max(a[i], b[i]), max(d[i], e[i])) + bias[i], floor) }
          } else {
            for i in 0..<c { y[i] = max(max(max(a[i], b[i]), max(d[i], e[i])), floor) }
          }
        }
      }
    }
  }

  /// 2x2 max pooling with stride 2 over channels-last images, recording for each
  /// output the winning input's offset within its image (for the backward pass).
  public static func maxPool(
    _ input: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels c: Int,
    into output: UnsafeMutablePointer<Float>, argmax: UnsafeMutablePointer<Int32>
  ) {
    let (oh, ow) = (height / 2, width / 2)
    for image in 0..<images {
      let x = input + image * height * width * c
      for oy in 0..<oh {
        for ox in 0..<ow {
          let corner = (2 * oy * width + 2 * ox) * c
          let o = ((image * oh + oy) * ow + ox) * c
          for i in 0..<c {
            let i0 = corner + i, i1 = i0 + c, i2 = i0 + width * c, i3 = i2 + c
            var best = i0
            if x[i1] > x[best] { best = i1 }
            if x[i2] > x[best] { best = i2 }
            if x[i3] > x[best] { best = i3 }
            output[o + i] = x[best]
            argmax[o + i] = Int32(best)
          }
        }
      }
    }
  }

  /// Reorders `images` rows from `(y, x, c)` to `(c, y, x)` (`forward`) or back.
  public static func permute(
    _ input: UnsafePointer<Float>, images: Int, height: Int, width: Int, channels c: Int,
    toChannelsFirst forward: Bool, into output: UnsafeMutablePointer<Float>
  ) {
    let plane = height * width
    for image in 0..<images {
      let x = input + image * plane * c
      let y = output + image * plane * c
      for pixel in 0..<plane {
        for channel in 0..<c {
          if forward { y[channel * plane + pixel] = x[pixel * c + channel] }
          else { y[pixel * c + channel] = x[channel * plane + pixel] }
        }
      }
    }
  }
}
