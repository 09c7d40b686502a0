import BCTModel
import BCTNumerics
import Testing

/// Finite-difference checks: the analytic gradient of `loss = sum(y * G)` must match
/// central differences on sampled entries of the input and of every parameter.
enum GradientCheck {
  static func check(
    _ layer: any Layer, batch: Int = 3, seed: UInt64 = 7, epsilon: Float = 1e-2, tolerance: Float = 2e-2,
    awayFromZero: Bool = false, sourceLocation: SourceLocation = #_sourceLocation
  ) {
    var generator = SeededGenerator(seed: seed)
    var input = Matrix.gaussian(rows: batch, columns: layer.inputWidth, std: 1, using: &generator)
    if awayFromZero {
      // Keep inputs clear of a kink at 0 so finite differences do not straddle it.
      input.values = input.values.map { $0 < 0 ? $0 - 0.1 : $0 + 0.1 }
    }
    var parameters = layer.initialParameters(using: &generator)
    let upstream = Matrix.gaussian(rows: batch, columns: layer.outputWidth, std: 1, using: &generator)

    func loss(_ x: Matrix, _ p: [Matrix]) -> Float {
      let y = layer.forward(x, parameters: p).output
      return zip(y.values, upstream.values).reduce(0) { $0 + $1.0 * $1.1 }
    }

    let (_, context) = layer.forward(input, parameters: parameters)
    let (dx, dp) = layer.backward(upstream, parameters: parameters, context: context, needsInputGradient: true)
    let inputGradient = dx!

    func compare(_ analytic: Float, _ numeric: Float, _ what: String) {
      let scale = max(1, abs(analytic), abs(numeric))
      #expect(abs(analytic - numeric) <= tolerance * scale, "\(what): analytic \(analytic), numeric \(numeric)",
              sourceLocation: sourceLocation)
    }

    var x = input
    for i in sampleIndices(count: x.values.count, using: &generator) {
      let original = x.values[i]
      x.values[i] = original + epsilon
      let plus = loss(x, parameters)
      x.values[i] = original - epsilon
      let minus = loss(x, parameters)
      x.values[i] = original
      compare(inputGradient.values[i], (plus - minus) / (2 * epsilon), "input[\(i)]")
    }
    for p in parameters.indices {
      for i in sampleIndices(count: parameters[p].values.count, using: &generator) {
        let original = parameters[p].values[i]
        parameters[p].values[i] = original + epsilon
        let plus = loss(input, parameters)
        parameters[p].values[i] = original - epsilon
        let minus = loss(input, parameters)
        parameters[p].values[i] = original
        compare(dp[p].values[i], (plus - minus) / (2 * epsilon), "parameter \(p)[\(i)]")
      }
    }
  }

  static func sampleIndices(count: Int, using generator: inout SeededGenerator) -> [Int] {
    count <= 40 ? Array(0..<count) : (0..<40).map { _ in Int(generator.next() % UInt64(count)) }
  }
}
