import BCTModel
import BCTNumerics
import Testing

@Suite("Layer gradients (finite differences)")
struct LayerGradientTests {
  @Test("Linear") func linear() { GradientCheck.check(Linear(inputs: 6, outputs: 4)) }
  @Test("ReLU") func relu() { GradientCheck.check(ReLU(width: 10), awayFromZero: true) }
  @Test("Flatten") func flatten() { GradientCheck.check(Flatten(width: 5)) }
  @Test("Conv2D with padding") func conv() {
    GradientCheck.check(Conv2D(inChannels: 2, outChannels: 3, kernel: 3, padding: 1, height: 5, width: 4))
  }
  @Test("Conv2D without padding") func convValid() {
    GradientCheck.check(Conv2D(inChannels: 1, outChannels: 2, kernel: 3, padding: 0, height: 6, width: 5))
  }
  @Test("Conv2D over channels-first input") func convChannelsFirst() {
    GradientCheck.check(Conv2D(
      inChannels: 3, outChannels: 2, kernel: 3, padding: 1, height: 4, width: 5, inputLayout: .channelsFirst))
  }
  @Test("Flatten of channels-last images") func flattenImages() {
    GradientCheck.check(Flatten(channels: 3, height: 2, width: 2))
  }
  @Test("MaxPool2D") func pool() { GradientCheck.check(MaxPool2D(channels: 2, height: 4, width: 6)) }

  @Test("a whole CNN backbone backpropagates to its input")
  func sequential() throws {
    var generator = SeededGenerator(seed: 3)
    let backbone = try Backbone(
      architecture: .cnn(channels: [2, 3], hidden: 5), inputShape: [1, 8, 8], embeddingDim: 4,
      normalization: .init(scale: 1, mean: 0, std: 1), generator: &generator)
    let net = backbone.network
    let x = Matrix.gaussian(rows: 2, columns: 64, std: 1, using: &generator)
    let g = Matrix.gaussian(rows: 2, columns: 4, std: 1, using: &generator)
    let (_, trace) = net.forward(x)
    let (grads, dx) = net.backward(g, trace: trace, needsInputGradient: true)
    func loss(_ n: Sequential, _ input: Matrix) -> Float {
      zip(n(input).values, g.values).reduce(0) { $0 + $1.0 * $1.1 }
    }
    let eps: Float = 1e-3
    for i in [0, 17, 40, 63, 100] {
      var xp = x, xm = x
      xp.values[i % 128] += eps
      xm.values[i % 128] -= eps
      let numeric = (loss(net, xp) - loss(net, xm)) / (2 * eps)
      #expect(abs(numeric - dx!.values[i % 128]) <= 2e-2 * max(1, abs(numeric)))
    }
    // The first conv weight, through every later layer.
    for i in [0, 5, 11] {
      var plus = net, minus = net
      plus.parameters[0][0].values[i] += eps
      minus.parameters[0][0].values[i] -= eps
      let numeric = (loss(plus, x) - loss(minus, x)) / (2 * eps)
      #expect(abs(numeric - grads[0][0].values[i]) <= 2e-2 * max(1, abs(numeric)))
    }
  }

  @Test("Conv2D matches a direct convolution (channels-last in and out)")
  func convDirect() {
    let conv = Conv2D(inChannels: 2, outChannels: 2, kernel: 3, padding: 1, height: 4, width: 3)
    var generator = SeededGenerator(seed: 11)
    let x = Matrix.gaussian(rows: 2, columns: conv.inputWidth, std: 1, using: &generator)
    let p = conv.initialParameters(using: &generator)
    let y = conv.forward(x, parameters: p).output
    for n in 0..<2 {
      for o in 0..<2 {
        for oy in 0..<4 {
          for ox in 0..<3 {
            var sum = p[1].values[o]
            for c in 0..<2 {
              for ky in 0..<3 {
                for kx in 0..<3 {
                  let iy = oy + ky - 1, ix = ox + kx - 1
                  guard iy >= 0, iy < 4, ix >= 0, ix < 3 else { continue }
                  sum += p[0][o, (c * 3 + ky) * 3 + kx] * x[n, (iy * 3 + ix) * 2 + c]
                }
              }
            }
            #expect(abs(y[n, (oy * 3 + ox) * 2 + o] - sum) < 1e-4)
          }
        }
      }
    }
  }
}
