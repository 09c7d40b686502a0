import BCTAdapters
import BCTNumerics
import BCTTraining

/// Trains the residual MLP adapter `x W + b + relu(x W1 + c1) W2` from paired rows
/// with InfoNCE against the target space: each mapped row must be nearer its own
/// target than every other target of the batch (in-batch negatives), and, when the
/// pairs are labelled, nearer the targets of its class than the others (the
/// supervised form, which is what class retrieval rewards). The affine
/// part starts from the ridge solution and the residual branch's output from zero,
/// so training starts at the affine adapter and only moves where the retrieval
/// loss gains.
public struct ResidualMLPFit: Sendable {
  /// Hidden width of the residual branch.
  public var hidden = 256
  /// Examples per step.
  public var batchSize = 256
  /// Adam's learning rate.
  public var learningRate: Float = 3e-4
  /// Temperature of the instance term.
  public var temperature: Float = 0.05
  /// Temperature of the class term.
  public var classTemperature: Float = 0.1
  /// Weight of the instance term beside the L2 regression onto the targets.
  public var contrastiveWeight: Float = 0.1
  /// Weight of the class term (labelled pairs only): larger pulls mapped rows toward
  /// their class's region of the target space, away from imitating each target.
  public var classWeight: Float = 0.1
  /// Seed of the branch's initialisation and of the batch order.
  public var seed: UInt64 = 0

  public init(seed: UInt64 = 0, classWeight: Float = 0.1) {
    self.seed = seed
    self.classWeight = classWeight
  }

  /// Trains from `start` (an affine adapter) for `epochs` passes over the pairs,
  /// calling `afterEpoch` with the epoch (1-based) and the adapter after it.
  public func train(
    source: Matrix, target: Matrix, labels: [Int]? = nil, from start: EmbeddingAdapter, epochs: Int,
    afterEpoch: (Int, EmbeddingAdapter) -> Void = { _, _ in }
  ) -> EmbeddingAdapter {
    var generator = SeededGenerator(seed: seed ^ 0x6D6C_7061_6461_7074)
    let (d, out) = (source.columns, target.columns)
    var parameters = [
      start.linear, start.bias,
      Matrix.gaussian(rows: d, columns: hidden, std: (2 / Float(d)).squareRoot(), using: &generator),
      Matrix(rows: 1, columns: hidden), Matrix(rows: hidden, columns: out),
    ]
    var optimizer = Optimizer(kind: .adam)
    var order = Array(0..<source.rows)
    for epoch in 0..<max(0, epochs) {
      order.shuffle(using: &generator)
      var begin = 0
      while begin + 2 <= order.count {
        let batch = Array(order[begin..<min(begin + batchSize, order.count)])
        begin += batchSize
        let gradients = gradients(
          parameters, source: source.gatherRows(batch), target: target.gatherRows(batch),
          labels: labels.map { all in batch.map { all[$0] } })
        optimizer.step(&parameters, gradients: gradients, rate: learningRate)
      }
      afterEpoch(epoch + 1, Self.adapter(parameters))
    }
    return Self.adapter(parameters)
  }

  static func adapter(_ p: [Matrix]) -> EmbeddingAdapter {
    EmbeddingAdapter(kind: .mlp, linear: p[0], bias: p[1], residual: .init(inner: p[2], innerBias: p[3], outer: p[4]))
  }

  /// The loss's gradients with respect to the five parameters, on one batch.
  func gradients(_ p: [Matrix], source x: Matrix, target y: Matrix, labels: [Int]?) -> [Matrix] {
    let model = Self.adapter(p)
    let (raw, hidden) = model.raw(x)
    let (mapped, norms) = raw.l2NormalizedRowsWithNorms()
    var dMapped = Losses.featureRegression(new: mapped, old: y).gradient
    dMapped.add(Losses.infoNCE(queries: mapped, keys: y, temperature: temperature).queries, scaledBy: contrastiveWeight)
    if let labels {
      let classTerm = Losses.crossModelContrastive(new: mapped, old: y, labels: labels, temperature: classTemperature)
      dMapped.add(classTerm.gradient, scaledBy: classWeight)
    }
    let dRaw = l2NormalizeBackward(normalized: mapped, norms: norms, gradient: dMapped)
    let dLinear = BLAS.matmul(x, dRaw, transposeA: .transposed)
    let dBias = dRaw.columnSums()
    let h = hidden!
    let dOuter = BLAS.matmul(h, dRaw, transposeA: .transposed)
    var dHidden = BLAS.matmul(dRaw, p[4], transposeB: .transposed)
    dHidden.values.withUnsafeMutableBufferPointer { g in
      h.values.withUnsafeBufferPointer { a in
        for i in 0..<g.count where a[i] <= 0 { g[i] = 0 }
      }
    }
    let dInner = BLAS.matmul(x, dHidden, transposeA: .transposed)
    return [dLinear, dBias, dInner, dHidden.columnSums(), dOuter]
  }
}
