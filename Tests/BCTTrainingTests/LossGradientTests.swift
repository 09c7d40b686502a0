import BCTModel
import BCTNumerics
import Foundation
import Testing
@testable import BCTTraining

@Suite("Loss gradients (finite differences)")
struct LossGradientTests {
  /// Compares `analytic` with central differences of `loss` around `x` on every entry.
  static func check(
    _ x: Matrix, analytic: Matrix, epsilon: Float = 1e-2, tolerance: Float = 1e-2,
    sourceLocation: SourceLocation = #_sourceLocation, _ loss: (Matrix) -> Float
  ) {
    #expect(analytic.rows == x.rows && analytic.columns == x.columns, sourceLocation: sourceLocation)
    for i in x.values.indices {
      var plus = x, minus = x
      plus.values[i] += epsilon
      minus.values[i] -= epsilon
      let numeric = (loss(plus) - loss(minus)) / (2 * epsilon)
      #expect(abs(numeric - analytic.values[i]) <= tolerance * max(1, abs(numeric)),
              "entry \(i): analytic \(analytic.values[i]) numeric \(numeric)", sourceLocation: sourceLocation)
    }
  }

  static func random(_ rows: Int, _ columns: Int, seed: UInt64) -> Matrix {
    var generator = SeededGenerator(seed: seed)
    return Matrix.gaussian(rows: rows, columns: columns, std: 1, using: &generator)
  }

  @Test("softmax cross-entropy")
  func crossEntropy() {
    let logits = Self.random(4, 5, seed: 1)
    let labels = [0, 4, 2, 2]
    let result = Losses.softmaxCrossEntropy(logits: logits, labels: labels)
    #expect(result.value > 0)
    Self.check(logits, analytic: result.gradient) { Losses.softmaxCrossEntropy(logits: $0, labels: labels).value }
  }

  @Test("cross-entropy is stable for huge logits")
  func crossEntropyStable() {
    let logits = Matrix(rows: 1, columns: 3, values: [1000, -1000, 999])
    let result = Losses.softmaxCrossEntropy(logits: logits, labels: [0])
    #expect(result.value.isFinite && result.gradient.isFinite)
    #expect(abs(result.value - 0.3133) < 1e-3)
  }

  @Test("Hot-Refresh/RACT term: gradient through anchors and new-model negatives")
  func hotRefresh() {
    let new = Self.random(5, 4, seed: 21).l2NormalizedRows(), old = Self.random(5, 4, seed: 22).l2NormalizedRows()
    let labels = [0, 1, 0, 2, 1]
    let result = Losses.hotRefreshContrastive(new: new, old: old, labels: labels, temperature: 0.5)
    Self.check(new, analytic: result.gradient, epsilon: 1e-2, tolerance: 2e-2) {
      Losses.hotRefreshContrastive(new: $0, old: old, labels: labels, temperature: 0.5).value
    }
  }

  @Test("Hot-Refresh/RACT term by hand: same-class others are left out of the denominator")
  func hotRefreshByHand() {
    // Two examples of one class: each has only its own old embedding as a candidate, so the loss is 0.
    let new = Matrix(rows: 2, columns: 2, values: [1, 0, 0, 1])
    let old = Matrix(rows: 2, columns: 2, values: [0, 1, 1, 0])
    #expect(abs(Losses.hotRefreshContrastive(new: new, old: old, labels: [3, 3], temperature: 0.1).value) < 1e-6)
    // Different classes: anchor 0 sees old 0 (positive, cos 0), old 1 and new 1 (cos 1 and 0).
    let value = Losses.hotRefreshContrastive(new: new, old: old, labels: [0, 1], temperature: 1).value
    let anchor0 = Foundation.log(2 + M_E)  // -log(e^0 / (e^0 + e^1 + e^0))
    #expect(abs(value - Float(anchor0)) < 1e-5, "both anchors are symmetric, so the mean equals one anchor's loss")
  }

  @Test("influence loss, linear and cosine old head: gradient for the new embeddings only")
  func influence() {
    var generator = SeededGenerator(seed: 23)
    let head = ClassifierHead.linear(classes: 3, embeddingDim: 4, generator: &generator)
    let features = Self.random(4, 4, seed: 24)
    let labels = [0, 2, 1, 2]
    for scale in [nil, Float(4)] {
      let result = Losses.influence(oldHead: head, features: features, labels: labels, cosineScale: scale)
      Self.check(features, analytic: result.gradient) {
        Losses.influence(oldHead: head, features: $0, labels: labels, cosineScale: scale).value
      }
    }
    let plain = Losses.influence(oldHead: head, features: features, labels: labels)
    #expect(plain.value == Losses.softmaxCrossEntropy(logits: head.logits(features), labels: labels).value)
  }

  @Test("L2 feature regression")
  func regression() {
    let new = Self.random(3, 4, seed: 2), old = Self.random(3, 4, seed: 3)
    let result = Losses.featureRegression(new: new, old: old)
    Self.check(new, analytic: result.gradient) { Losses.featureRegression(new: $0, old: old).value }
    #expect(Losses.featureRegression(new: old, old: old).value == 0)
  }

  @Test("InfoNCE with in-batch negatives and a queue, for queries and keys")
  func infoNCE() {
    let q = Self.random(3, 4, seed: 4), k = Self.random(3, 4, seed: 5), queue = Self.random(5, 4, seed: 6)
    let result = Losses.infoNCE(queries: q, keys: k, queue: queue, temperature: 0.5)
    Self.check(q, analytic: result.queries) { Losses.infoNCE(queries: $0, keys: k, queue: queue, temperature: 0.5).value }
    Self.check(k, analytic: result.keys) { Losses.infoNCE(queries: q, keys: $0, queue: queue, temperature: 0.5).value }
    let withoutQueue = Losses.infoNCE(queries: q, keys: k, temperature: 0.5)
    #expect(withoutQueue.value < result.value, "more negatives make the task harder")
  }

  @Test("new-to-old supervised contrastive")
  func crossModel() {
    let new = Self.random(5, 3, seed: 7), old = Self.random(5, 3, seed: 8)
    let labels = [0, 1, 0, 2, 1]
    let result = Losses.crossModelContrastive(new: new, old: old, labels: labels, temperature: 0.3)
    Self.check(new, analytic: result.gradient) {
      Losses.crossModelContrastive(new: $0, old: old, labels: labels, temperature: 0.3).value
    }
  }

  @Test("L2 normalisation backward")
  func normalize() {
    let x = Self.random(3, 4, seed: 9), g = Self.random(3, 4, seed: 10)
    let (y, norms) = x.l2NormalizedRowsWithNorms()
    let dx = l2NormalizeBackward(normalized: y, norms: norms, gradient: g)
    Self.check(x, analytic: dx, epsilon: 1e-3) { m in
      zip(m.l2NormalizedRows().values, g.values).reduce(0) { $0 + $1.0 * $1.1 }
    }
  }
}

@Suite("Optimizers and schedules")
struct OptimizerTests {
  @Test("SGD with momentum follows the textbook update")
  func sgd() {
    var optimizer = Optimizer(kind: .sgd, momentum: 0.5, weightDecay: 0)
    var p = [Matrix(rows: 1, columns: 1, values: [1])]
    optimizer.step(&p, gradients: [Matrix(rows: 1, columns: 1, values: [2])], rate: 0.1)
    #expect(abs(p[0].values[0] - 0.8) < 1e-6)
    optimizer.step(&p, gradients: [Matrix(rows: 1, columns: 1, values: [2])], rate: 0.1)
    #expect(abs(p[0].values[0] - 0.5) < 1e-6)  // velocity 0.5*2 + 2 = 3
  }

  @Test("Adam's first step moves each weight by the learning rate against its gradient")
  func adam() {
    var optimizer = Optimizer(kind: .adam)
    var p = [Matrix(rows: 1, columns: 2, values: [1, 1])]
    optimizer.step(&p, gradients: [Matrix(rows: 1, columns: 2, values: [5, -0.01])], rate: 0.1)
    #expect(abs(p[0].values[0] - 0.9) < 1e-4 && abs(p[0].values[1] - 1.1) < 1e-3)
  }

  @Test("Adam minimises a quadratic")
  func quadratic() {
    var optimizer = Optimizer(kind: .adam)
    var p = [Matrix(rows: 1, columns: 3, values: [3, -2, 0.5])]
    for _ in 0..<2000 { optimizer.step(&p, gradients: [p[0].scaled(by: 2)], rate: 0.01) }
    #expect(p[0].values.allSatisfy { abs($0) < 1e-2 })
  }

  @Test("schedules start at the base rate and decay as documented")
  func schedules() {
    #expect(LearningRateSchedule.constant.rate(base: 1, step: 90, total: 100) == 1)
    #expect(LearningRateSchedule.cosine.rate(base: 1, step: 0, total: 100) == 1)
    #expect(abs(LearningRateSchedule.cosine.rate(base: 1, step: 50, total: 100) - 0.5) < 1e-6)
    #expect(abs(LearningRateSchedule.step.rate(base: 1, step: 60, total: 100) - 0.1) < 1e-6)
    #expect(abs(LearningRateSchedule.step.rate(base: 1, step: 80, total: 100) - 0.01) < 1e-6)
  }

  @Test("augmentation: identity when disabled, a mirror with certain flips")
  func augmentation() {
    var generator = SeededGenerator(seed: 1)
    let image = Matrix(rows: 1, columns: 6, values: [1, 2, 3, 4, 5, 6])
    #expect(Augmentation(maxShift: 0, flipProbability: 0).apply(image, shape: [1, 2, 3], using: &generator) == image)
    let flipped = Augmentation(maxShift: 0, flipProbability: 1).apply(image, shape: [1, 2, 3], using: &generator)
    #expect(flipped.values == [3, 2, 1, 6, 5, 4])
  }
}
