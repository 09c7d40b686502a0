import BCTModel
import BCTNumerics
import Testing

/// The fused inference path against the training layers and against a plain
/// PyTorch-layout (NCHW) reference written out loop by loop.
@Suite("Inference network", .serialized)
struct InferenceNetworkTests {
  static let cnn = Architecture.cnn(channels: [4, 6], hidden: 7)

  static func backbone(_ architecture: Architecture, inputShape: [Int], seed: UInt64 = 5) throws -> Backbone {
    try Backbone(
      architecture: architecture, inputShape: inputShape, embeddingDim: 5,
      normalization: .init(scale: 0.5, mean: 0.1, std: 0.7), seed: seed)
  }

  @Test("equals the training layers' forward pass, every batch size and thread mode",
        arguments: [[1, 8, 8], [3, 9, 6], [1, 7, 9]])
  func matchesTraining(inputShape: [Int]) throws {
    // 4 channels: the generic direct first convolution; 32: its AVX-512 blocks.
    // mlp 40-33 on 162 inputs: packed GEMM with two k blocks, two column panels, masked edges.
    for architecture in [Self.cnn, .cnn(channels: [32, 16], hidden: 7), .mlp(hidden: [9, 6]), .mlp(hidden: [40, 33])] {
      let backbone = try Self.backbone(architecture, inputShape: inputShape)
      var generator = SeededGenerator(seed: 9)
      let previous = BLAS.threadCount
      defer { BLAS.setThreadCount(previous) }
      for threads in [1, 2] {
        BLAS.setThreadCount(threads)
        for n in [1, 2, 3, 5, 64, 131] {
          let x = Matrix.gaussian(rows: n, columns: backbone.inputWidth, std: 2, using: &generator)
          let expected = backbone.network.forward(backbone.normalization.apply(x)).output
          let got = backbone.embed(x)
          #expect(got.rows == n && got.columns == 5)
          let worst = zip(got.values, expected.values).map { abs($0 - $1) }.max() ?? 0
          #expect(worst < 1e-4, "\(architecture.name) n=\(n) threads=\(threads): max difference \(worst)")
        }
      }
    }
  }

  @Test("a CNN computes what PyTorch's NCHW layers compute on the same weights")
  func matchesPyTorchLayout() throws {
    let (c, h, w) = (3, 6, 8)
    let backbone = try Self.backbone(Self.cnn, inputShape: [c, h, w], seed: 21)
    var generator = SeededGenerator(seed: 4)
    let x = Matrix.gaussian(rows: 3, columns: c * h * w, std: 1, using: &generator)
    let got = backbone.embed(x)
    let p = backbone.network.parameters
    for n in 0..<3 {
      var image = (0..<(c * h * w)).map { backbone.normalization.apply(Matrix(rows: 1, columns: 1, values: [x[n, $0]]))[0, 0] }
      var (channels, height, width) = (c, h, w)
      for (block, out) in [4, 6].enumerated() {
        let weight = p[block * 3][0], bias = p[block * 3][1]
        var conv = [Float](repeating: 0, count: out * height * width)
        for o in 0..<out {
          for y in 0..<height {
            for xx in 0..<width {
              var sum = bias[0, o]
              for ci in 0..<channels {
                for ky in 0..<3 {
                  for kx in 0..<3 {
                    let (iy, ix) = (y + ky - 1, xx + kx - 1)
                    guard iy >= 0, iy < height, ix >= 0, ix < width else { continue }
                    sum += weight[o, (ci * 3 + ky) * 3 + kx] * image[(ci * height + iy) * width + ix]
                  }
                }
              }
              conv[(o * height + y) * width + xx] = max(sum, 0)
            }
          }
        }
        let (ph, pw) = (height / 2, width / 2)
        image = [Float](repeating: 0, count: out * ph * pw)
        for o in 0..<out {
          for y in 0..<ph {
            for xx in 0..<pw {
              let base = (o * height + 2 * y) * width + 2 * xx
              image[(o * ph + y) * pw + xx] = max(max(conv[base], conv[base + 1]), max(conv[base + width], conv[base + width + 1]))
            }
          }
        }
        (channels, height, width) = (out, ph, pw)
      }
      // Flatten in (c, y, x) order, then Linear-ReLU-Linear with PyTorch's weights.
      func linear(_ v: [Float], _ layer: Int, relu: Bool) -> [Float] {
        let weight = p[layer][0], bias = p[layer][1]
        return (0..<weight.rows).map { o in
          let s = zip(0..<weight.columns, v).reduce(bias[0, o]) { $0 + weight[o, $1.0] * $1.1 }
          return relu ? max(s, 0) : s
        }
      }
      let embedding = linear(linear(image, 7, relu: true), 9, relu: false)
      for (i, value) in embedding.enumerated() {
        #expect(abs(got[n, i] - value) < 1e-4, "image \(n) dimension \(i): \(got[n, i]) vs \(value)")
      }
    }
  }

  @Test("changing the parameters rebuilds the prepared network")
  func parameterChange() throws {
    var backbone = try Self.backbone(Self.cnn, inputShape: [1, 8, 8])
    let x = Matrix(rows: 1, columns: 64, repeating: 3)
    let before = backbone.embed(x)
    backbone.network.parameters[9][1].values[0] += 1
    let after = backbone.embed(x)
    #expect(abs(after[0, 0] - before[0, 0] - 1) < 1e-5)
    #expect(after.values[1...] == before.values[1...])
  }
}
