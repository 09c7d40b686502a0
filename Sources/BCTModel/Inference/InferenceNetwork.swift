import BCTNumerics
import CKernels
import Foundation
import Synchronization

/// A network prepared for inference: layers fused into a few steps, weights laid
/// out once for the kernels, and scratch memory reused across calls.
///
/// - A convolution with its ReLU and max pool is one step: patch rows for a block
///   of images (sized to stay in cache), one GEMM with the bias and ReLU applied as
///   it stores, then one max-pool pass.
///   A 3x3 convolution of one-channel images followed by a pool (a GEMM with an
///   inner dimension of 9, which BLAS runs far below its peak) is computed directly.
/// - A `Linear` with its ReLU is one GEMM over the chunk plus one bias + ReLU pass.
/// - `Flatten` costs nothing: the next layer's weight columns are reordered once to
///   the channels-last order of the activations.
///
/// GEMMs run on weights packed once for `ck_packed_gemm` where the CPU has AVX-512
/// (OpenBLAS packs them again on every call), else through OpenBLAS.
///
/// Threads (a `WorkerPool`, started on first use): a batch of at least two rows per
/// core is cut into chunks that run on all cores at once; a smaller batch runs step
/// by step, each GEMM's rows (convolutions) or output columns (`Linear`) spread over
/// the cores. Where a GEMM falls back to OpenBLAS and OpenBLAS is already parallel
/// (`BLAS.threadCount > 1`), chunks and steps run on the calling thread and OpenBLAS
/// spreads each GEMM.
public final class InferenceNetwork: Sendable {
  enum Step: Sendable {
    /// `packed`: the weights laid out for `ck_packed_gemm` (nil where the CPU lacks AVX-512).
    case convolution(ConvolutionShape, weights: [Float], bias: [Float], relu: Bool, pool: Bool, packed: PackedWeights?)
    /// A 3x3, padding-1 convolution of one-channel images and its 2x2 max pool,
    /// computed directly; weights tap-major (`[ky * 3 + kx][channel]`).
    case pooledSingleChannelConvolution(ConvolutionShape, weights: [Float], bias: [Float], relu: Bool)
    /// `packed`: the weights laid out for `ck_packed_gemm` (nil where the CPU lacks AVX-512).
    case linear(inputs: Int, outputs: Int, weights: [Float], bias: [Float], relu: Bool, packed: PackedWeights?)
    case pool(channels: Int, height: Int, width: Int, relu: Bool)
    case relu(width: Int)

    var outputWidth: Int {
      switch self {
      case .convolution(let s, _, _, _, let pool, _):
        return pool ? s.outChannels * (s.outputHeight / 2) * (s.outputWidth / 2) : s.outChannels * s.pixels
      case .pooledSingleChannelConvolution(let s, _, _, _):
        return s.outChannels * (s.outputHeight / 2) * (s.outputWidth / 2)
      case .linear(_, let outputs, _, _, _, _): return outputs
      case .pool(let c, let h, let w, _): return c * (h / 2) * (w / 2)
      case .relu(let width): return width
      }
    }
  }

  let steps: [Step]
  let normalization: InputNormalization
  /// Whether the first step's weights already apply `normalization`.
  private let normalizationFolded: Bool
  /// Width of one raw input row.
  public let inputWidth: Int
  /// Width of one output row.
  public let outputWidth: Int
  /// Widest activation row of any step (input included): the size of the ping-pong buffers.
  private let widestRow: Int
  /// Scratch memory kept for the next call: for chunks of large batches, and apart
  /// for whole small batches (which would otherwise run in whichever large chunk's
  /// memory was returned last).
  private let workspaces = Mutex<(chunks: [Workspace], small: [Workspace])>(([], []))
  /// Threads for work spread over the cores, started on first use.
  private let pool = Mutex<WorkerPool?>(nil)
  /// Whether every GEMM runs on packed weights (none through OpenBLAS).
  private let packedGEMMs: Bool

  /// Most images one thread runs through the network at a time: enough rows that each
  /// weight panel a `Linear` GEMM brings into cache serves many of them (MLP, batch
  /// 256, measured with OpenBLAS GEMMs: 285k embeddings/s with 64, 339k with 256);
  /// convolutions block by `blockRows` inside.
  static let chunkImages = 256
  /// GEMM rows per convolution block (whole images, at least one): the block's patch
  /// matrix stays in L2 (one 28x28 image: 196 x 288 floats, 226 KB, for the default
  /// CNN's second convolution). Batch 256: 45k embeddings/s with one image per block,
  /// 38k with eight (measured).
  static let blockRows = 256

  /// Prepares `network` (whose raw inputs are first mapped by `normalization`).
  public init(_ network: Sequential, normalization: InputNormalization) {
    var steps: [Step] = []
    // Set by a Flatten of channels-last images: how the next Linear's columns are reordered.
    var pendingFlatten: Flatten?
    var index = 0
    let layers = network.layers
    func followedBy<T: Layer>(_ type: T.Type, at position: Int) -> Bool {
      position < layers.count && layers[position] is T
    }
    while index < layers.count {
      let layer = layers[index]
      let parameters = network.parameters[index]
      index += 1
      switch layer {
      case let conv as Conv2D:
        let relu = followedBy(ReLU.self, at: index)
        if relu { index += 1 }
        let pool = followedBy(MaxPool2D.self, at: index)
        if pool { index += 1 }
        steps.append(Self.convolution(conv.shape, parameters, relu: relu, pool: pool))
      case let linear as Linear:
        let relu = followedBy(ReLU.self, at: index)
        if relu { index += 1 }
        steps.append(Self.linear(
          linear, parameters, relu: relu, after: pendingFlatten, folding: steps.isEmpty ? normalization : nil))
        pendingFlatten = nil
      case let flatten as Flatten:
        pendingFlatten = flatten
      case let pool as MaxPool2D:
        let relu = followedBy(ReLU.self, at: index)
        if relu { index += 1 }
        steps.append(.pool(channels: pool.channels, height: pool.height, width: pool.width, relu: relu))
      case let relu as ReLU:
        steps.append(.relu(width: relu.inputWidth))
      default:
        preconditionFailure("InferenceNetwork has no step for \(type(of: layer))")
      }
    }
    precondition(pendingFlatten == nil, "a Flatten must be followed by a Linear layer")
    if case .linear = steps.first { self.normalizationFolded = true } else { self.normalizationFolded = false }
    self.steps = steps
    self.packedGEMMs = steps.allSatisfy { step in
      switch step {
      case .convolution(_, _, _, _, _, let packed), .linear(_, _, _, _, _, let packed): packed != nil
      default: true
      }
    }
    self.normalization = normalization
    self.inputWidth = network.inputWidth
    self.outputWidth = network.outputWidth
    self.widestRow = steps.reduce(network.inputWidth) { max($0, $1.outputWidth) }
  }

  /// A convolution step: the direct single-channel 3x3 kernel fused with its pooling
  /// where it applies, a GEMM over patches with packed weights otherwise.
  private static func convolution(_ s: ConvolutionShape, _ parameters: [Matrix], relu: Bool, pool: Bool) -> Step {
    let patchMajor = ImageKernels.patchMajorWeights(s, parameters[0])
    if s.inChannels == 1, s.kernel == 3, s.padding == 1, pool {
      return .pooledSingleChannelConvolution(s, weights: patchMajor.transposed().values, bias: parameters[1].values, relu: relu)
    }
    return .convolution(
      s, weights: patchMajor.values, bias: parameters[1].values, relu: relu, pool: pool,
      packed: PackedWeights(patchMajor.values, outputs: s.outChannels, inputs: s.patchSize))
  }

  /// The step of `layer`: columns reordered for channels-last images after `flatten`,
  /// and, for the first layer, `normalization` folded into the weights and bias:
  /// W(ax + b) + c = (aW)x + (c + b * rowsum(W)), so the GEMM reads raw rows and no
  /// pass over the input is left. (Not for a convolution: its zero padding is zero
  /// after normalisation, not before.)
  private static func linear(
    _ layer: Linear, _ parameters: [Matrix], relu: Bool, after flatten: Flatten?, folding normalization: InputNormalization?
  ) -> Step {
    var weights = parameters[0]
    if let flatten, flatten.channels > 1, flatten.height * flatten.width > 1 {
      weights = channelsLastColumns(weights, flatten)
    }
    var bias = parameters[1].values
    if let normalization {
      for o in 0..<weights.rows { bias[o] += normalization.offset * weights.row(o).reduce(0, +) }
      weights.values = weights.values.map { $0 * normalization.slope }
    }
    return linear(inputs: layer.inputWidth, outputs: layer.outputWidth, weights: weights.values, bias: bias, relu: relu)
  }

  /// A `Linear` step, its weights also packed for `ck_packed_gemm` where the CPU runs it.
  private static func linear(inputs: Int, outputs: Int, weights: [Float], bias: [Float], relu: Bool) -> Step {
    .linear(
      inputs: inputs, outputs: outputs, weights: weights, bias: bias, relu: relu,
      packed: PackedWeights(weights, outputs: outputs, inputs: inputs))
  }

  /// A `Linear` weight over PyTorch's `(c, y, x)` flatten, reordered to read `(y, x, c)` activations.
  private static func channelsLastColumns(_ weight: Matrix, _ f: Flatten) -> Matrix {
    var out = Matrix(uninitializedRows: weight.rows, columns: weight.columns)
    let plane = f.height * f.width
    for o in 0..<weight.rows {
      for c in 0..<f.channels {
        for p in 0..<plane { out[o, p * f.channels + c] = weight[o, c * plane + p] }
      }
    }
    return out
  }

  /// The network's outputs for raw (unnormalised) input rows.
  public func callAsFunction(_ raw: Matrix) -> Matrix {
    precondition(raw.columns == inputWidth, "inputs have \(raw.columns) values per row, expected \(inputWidth)")
    let n = raw.rows
    var output = Matrix(uninitializedRows: n, columns: outputWidth)
    guard n > 0 else { return output }
    let cores = packedGEMMs || BLAS.threadCount == 1 ? processorCount : 1
    let pool = cores > 1 ? workerPool(threads: cores) : nil
    raw.values.withUnsafeBufferPointer { input in
      output.values.withUnsafeMutableBufferPointer { out in
        let input = input.baseAddress!, out = out.baseAddress!
        /// Rows `chunk` of `chunks` equal chunks of the batch.
        func runChunk(_ chunk: Int, of chunks: Int, workspace: Workspace, split: WorkerPool?) {
          let start = n * chunk / chunks
          let count = n * (chunk + 1) / chunks - start
          run(input + start * inputWidth, images: count, workspace: workspace, into: out + start * outputWidth, split: split)
        }
        if let pool, n >= 2 * cores {
          // Chunks of at most `chunkImages`, as many per thread.
          let chunks = (n + Self.chunkImages * cores - 1) / (Self.chunkImages * cores) * cores
          pool.run(chunks) { chunk in
            withWorkspace(small: false) { runChunk(chunk, of: chunks, workspace: $0, split: nil) }
          }
        } else {
          let chunks = (n + Self.chunkImages - 1) / Self.chunkImages
          withWorkspace(small: n < Self.chunkImages) { workspace in
            for chunk in 0..<chunks { runChunk(chunk, of: chunks, workspace: workspace, split: pool) }
          }
        }
      }
    }
    return output
  }

  private func workerPool(threads: Int) -> WorkerPool {
    pool.withLock { pool in
      if let pool { return pool }
      let created = WorkerPool(workers: threads - 1)
      pool = created
      return created
    }
  }

  /// Runs `body` with a workspace no other thread uses meanwhile.
  private func withWorkspace(small: Bool, _ body: (Workspace) -> Void) {
    let workspace = workspaces.withLock { small ? $0.small.popLast() : $0.chunks.popLast() } ?? Workspace()
    body(workspace)
    workspaces.withLock { small ? $0.small.append(workspace) : $0.chunks.append(workspace) }
  }

  /// Runs `images` rows through every step on the calling thread, or with `split`,
  /// each GEMM spread over the pool's threads.
  private func run(
    _ raw: UnsafePointer<Float>, images n: Int, workspace w: Workspace,
    into output: UnsafeMutablePointer<Float>, split: WorkerPool?
  ) {
    var current = w.buffer(.first, count: n * widestRow)
    var next = w.buffer(.second, count: n * widestRow)
    if !normalizationFolded {
      let (a, b) = (normalization.slope, normalization.offset)
      for i in 0..<(n * inputWidth) { current[i] = raw[i] * a + b }
    }
    // What the next step reads: the raw rows when the first step folded the normalisation.
    var input = normalizationFolded ? raw : UnsafePointer(current)
    for step in steps {
      switch step {
      case .convolution(let s, let weights, let bias, let relu, let pool, let packed):
        Self.convolve(
          ConvolutionStep(shape: s, weights: weights, bias: bias, relu: relu, pool: pool, packed: packed, outputWidth: step.outputWidth),
          input: input, images: n, workspace: w, into: next, split: split)
      case .pooledSingleChannelConvolution(let s, let weights, let bias, let relu):
        ck_conv3x3_pool_single_channel(input, n, s.height, s.width, weights, bias, s.outChannels, relu ? 1 : 0, next)
      case .linear(let inputs, let outputs, _, let bias, let relu, let packed?):
        Self.packedGEMM(
          rows: n, inputs: inputs, packed: packed, outputs: outputs, bias: bias, relu: relu, a: input, c: next,
          split: split, byColumns: true)
      case .linear(let inputs, let outputs, let weights, let bias, let relu, _):
        weights.withUnsafeBufferPointer { wt in
          Self.gemm(m: n, n: outputs, k: inputs, a: input, b: wt.baseAddress!, c: next)
        }
        bias.withUnsafeBufferPointer { bias in
          ImageKernels.addBias(next, rows: n, width: outputs, bias: bias.baseAddress!, relu: relu)
        }
      case .pool(let c, let h, let width, let relu):
        ImageKernels.biasMaxPoolReLU(
          input, images: n, height: h, width: width, channels: c, bias: nil, relu: relu, into: next)
      case .relu(let width):
        for i in 0..<(n * width) { next[i] = max(input[i], 0) }
      }
      swap(&current, &next)
      input = UnsafePointer(current)
    }
    output.update(from: current, count: n * outputWidth)
  }

  /// A convolution step's parameters, as `convolve` reads them.
  private struct ConvolutionStep {
    var shape: ConvolutionShape
    var weights: [Float]
    var bias: [Float]
    var relu: Bool
    var pool: Bool
    var packed: PackedWeights?
    var outputWidth: Int
  }

  /// Runs a convolution over `n` images in blocks whose patch matrix stays in L2:
  /// im2col, then the packed GEMM (bias and ReLU as it stores) or OpenBLAS's, then
  /// the max pool or a bias pass.
  private static func convolve(
    _ step: ConvolutionStep, input: UnsafePointer<Float>, images n: Int, workspace w: Workspace,
    into next: UnsafeMutablePointer<Float>, split: WorkerPool?
  ) {
    let (s, weights, bias, relu, pool, packed) = (step.shape, step.weights, step.bias, step.relu, step.pool, step.packed)
    let block = max(1, blockRows / s.pixels)
    let columns = w.buffer(.columns, count: min(block, n) * s.pixels * s.patchSize)
    let product = pool ? w.buffer(.product, count: min(block, n) * s.pixels * s.outChannels) : next
    var start = 0
    while start < n {
      let count = min(block, n - start)
      ImageKernels.im2col(s, input: input + start * s.inputSize, images: count, into: columns)
      let target = pool ? product : next + start * s.pixels * s.outChannels
      bias.withUnsafeBufferPointer { bias in
        // The packed GEMM applies bias and ReLU as it stores (the max pool commutes
        // with both); after OpenBLAS's GEMM the pool or a bias pass applies them.
        if let packed {
          packedGEMM(
            rows: count * s.pixels, inputs: s.patchSize, packed: packed, outputs: s.outChannels,
            bias: bias.baseAddress!, relu: relu, a: columns, c: target, split: split, byColumns: false)
        } else {
          weights.withUnsafeBufferPointer { wt in
            gemm(
              m: count * s.pixels, n: s.outChannels, k: s.patchSize, a: columns, b: wt.baseAddress!, c: target)
          }
        }
        let pending = packed == nil
        if pool {
          ImageKernels.biasMaxPoolReLU(
            product, images: count, height: s.outputHeight, width: s.outputWidth, channels: s.outChannels,
            bias: pending ? bias.baseAddress! : nil, relu: pending && relu, into: next + start * step.outputWidth)
        } else if pending {
          ImageKernels.addBias(
            target, rows: count * s.pixels, width: s.outChannels, bias: bias.baseAddress!, relu: relu)
        }
      }
      start += count
    }
  }

  /// `c = max(a * weights^T + bias, floor)` on packed weights; with `split`, spread
  /// over the pool's threads by 32-column panels (`byColumns`: each thread reads only
  /// its panels' weights, for few rows) or by blocks of rows.
  private static func packedGEMM(
    rows m: Int, inputs k: Int, packed: PackedWeights, outputs: Int, bias: UnsafePointer<Float>, relu: Bool,
    a: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>, split: WorkerPool?, byColumns: Bool
  ) {
    withExtendedLifetime(packed) {
      let weights = packed.values
      guard let split else {
        return ck_packed_gemm(a, m, k, weights, outputs, bias, relu ? 1 : 0, c, outputs)
      }
      if byColumns {
        let panels = (outputs + 31) / 32
        split.run(panels) { panel in
          let j0 = panel * 32
          ck_packed_gemm(a, m, k, weights + j0 * k, min(32, outputs - j0), bias + j0, relu ? 1 : 0, c + j0, outputs)
        }
      } else {
        let tiles = (m + 7) / 8
        let parts = min(tiles, 4 * (split.workers + 1))
        split.run(parts) { part in
          let r0 = tiles * part / parts * 8, r1 = min(m, tiles * (part + 1) / parts * 8)
          ck_packed_gemm(a + r0 * k, r1 - r0, k, weights, outputs, bias, relu ? 1 : 0, c + r0 * outputs, outputs)
        }
      }
    }
  }

  /// `c[m, n] = a[m, k] * b[n, k]^T`; one row as a matrix-vector product (OpenBLAS's
  /// small-matrix GEMM path is slower for it).
  private static func gemm(
    m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
  ) {
    if m == 1 { return BLAS.gemv(rows: n, columns: k, a: b, lda: k, x: a, y: c) }
    BLAS.gemm(m: m, n: n, k: k, a: a, lda: k, b: b, ldb: k, .transposed, c: c, ldc: n)
  }
}

/// One worker's scratch memory, grown on demand and kept for the next call.
final class Workspace: @unchecked Sendable {
  enum Slot: Int, CaseIterable { case first, second, columns, product }
  private var buffers: [UnsafeMutableBufferPointer<Float>] = Slot.allCases.map { _ in .init(start: nil, count: 0) }

  /// How far each slot's memory starts from its allocation, times its index: large
  /// allocations start on page boundaries, and buffers that one step reads and another
  /// writes at the same offsets within a 4 KiB page alias in the CPU's store-to-load
  /// forwarding.
  static let staggerFloats = 272

  /// The slot's memory, at least `count` values on a cache line (contents unspecified).
  func buffer(_ slot: Slot, count: Int) -> UnsafeMutablePointer<Float> {
    let stagger = slot.rawValue * Self.staggerFloats
    if buffers[slot.rawValue].count < count + stagger {
      buffers[slot.rawValue].baseAddress.map { UnsafeMutableRawPointer($0).deallocate() }
      buffers[slot.rawValue] = .init(start: alignedFloats(count + stagger), count: count + stagger)
    }
    return buffers[slot.rawValue].baseAddress! + stagger
  }

  deinit {
    for buffer in buffers { buffer.baseAddress.map { UnsafeMutableRawPointer($0).deallocate() } }
  }
}
