import BCTAdapterFitting
import BCTAdapters
import BCTNumerics
import Testing

/// Synthetic pairs: targets are a known map of the sources; each adapter must recover it.
@Suite struct AdapterFitTests {
  /// `n` unit rows of width `d`.
  static func rows(_ n: Int, _ d: Int, seed: UInt64) -> Matrix {
    var generator = SeededGenerator(seed: seed)
    return Matrix.gaussian(rows: n, columns: d, std: 1, using: &generator).l2NormalizedRows()
  }

  /// A random `[d_in, d_out]` matrix with orthonormal rows (d_in <= d_out) or columns.
  static func semiOrthogonal(_ dIn: Int, _ dOut: Int, seed: UInt64) -> Matrix {
    var generator = SeededGenerator(seed: seed)
    let m = Matrix.gaussian(rows: dIn, columns: dOut, std: 1, using: &generator)
    let f = LAPACK.svd(m)!
    return BLAS.matmul(f.u, f.vt)
  }

  static func meanCosine(_ a: Matrix, _ b: Matrix) -> Float {
    var total: Float = 0
    for r in 0..<a.rows { for c in 0..<a.columns { total += a[r, c] * b[r, c] } }
    return total / Float(a.rows)
  }

  /// Share of rows of `mapped` whose nearest row of `target` is their own pair.
  static func pairAccuracy(_ mapped: Matrix, _ target: Matrix) -> Double {
    let scores = BLAS.matmul(mapped, target, transposeB: .transposed)
    var hits = 0
    for r in 0..<scores.rows {
      var best = 0
      for c in 0..<scores.columns where scores[r, c] > scores[r, best] { best = c }
      if best == r { hits += 1 }
    }
    return Double(hits) / Double(scores.rows)
  }

  static func maxDifference(_ a: Matrix, _ b: Matrix) -> Float {
    zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 0
  }

  @Test func svdReconstructsAndSolveInverts() throws {
    var generator = SeededGenerator(seed: 3)
    let a = Matrix.gaussian(rows: 7, columns: 4, std: 1, using: &generator)
    let f = try #require(LAPACK.svd(a))
    var us = f.u
    for r in 0..<us.rows { for c in 0..<us.columns { us[r, c] *= f.s[c] } }
    #expect(Self.maxDifference(BLAS.matmul(us, f.vt), a) < 1e-4)
    #expect(f.s == f.s.sorted(by: >))
    var spd = BLAS.matmul(a, a, transposeA: .transposed)
    for i in 0..<4 { spd[i, i] += 0.5 }
    let b = Matrix.gaussian(rows: 4, columns: 3, std: 1, using: &generator)
    let x = try #require(LAPACK.solvePositiveDefinite(spd, b))
    #expect(Self.maxDifference(BLAS.matmul(spd, x), b) < 1e-4)
    #expect(LAPACK.solvePositiveDefinite(Matrix(rows: 2, columns: 2, values: [1, 2, 2, 1]), Matrix(rows: 2, columns: 1)) == nil)
  }

  @Test(arguments: [(16, 16), (12, 20), (20, 12)])
  func procrustesRecoversARotation(dims: (Int, Int)) throws {
    let (dIn, dOut) = dims
    let source = Self.rows(500, dIn, seed: 1)
    let rotation = Self.semiOrthogonal(dIn, dOut, seed: 2)
    let target = BLAS.matmul(source, rotation)
    let adapter = try #require(LinearFits.procrustes(source: source, target: target))
    #expect(adapter.inputDim == dIn && adapter.outputDim == dOut)
    if dIn <= dOut {
      // Every source direction is kept: the map itself is recovered.
      #expect(Self.maxDifference(adapter.linear, rotation) < 1e-3)
      #expect(Self.maxDifference(adapter.apply(source), target.l2NormalizedRows()) < 1e-3)
    } else {
      // A projection: the mapped rows point where the targets do.
      #expect(Self.meanCosine(adapter.apply(source), target.l2NormalizedRows()) > 0.95)
    }
  }

  @Test func affineRecoversARotationPlusDistortion() throws {
    let source = Self.rows(800, 10, seed: 4)
    var generator = SeededGenerator(seed: 5)
    let map = Matrix.gaussian(rows: 10, columns: 14, std: 0.5, using: &generator)
    let shift = Matrix.gaussian(rows: 1, columns: 14, std: 0.3, using: &generator)
    var target = BLAS.matmul(source, map)
    target.addRowVector(shift)
    let adapter = try #require(LinearFits.affine(source: source, target: target, ridge: 1e-7))
    #expect(Self.maxDifference(adapter.linear, map) < 2e-3)
    #expect(Self.maxDifference(adapter.bias, shift) < 2e-3)
    // Procrustes cannot express the shift and the stretch; the affine map can.
    let procrustes = try #require(LinearFits.procrustes(source: source, target: target))
    let targetUnit = target.l2NormalizedRows()
    #expect(Self.maxDifference(adapter.apply(source), targetUnit) < 1e-3)
    #expect(Self.maxDifference(procrustes.apply(source), targetUnit) > 0.05)
  }

  @Test func mlpLearnsWhatNoLinearMapCan() throws {
    // Targets: a rotation of the source with a sign-dependent (ReLU-shaped) distortion.
    let source = Self.rows(2000, 8, seed: 6)
    let rotation = Self.semiOrthogonal(8, 8, seed: 7)
    var target = BLAS.matmul(source, rotation)
    for r in 0..<target.rows where source[r, 0] > 0 {
      for c in 0..<8 { target[r, c] += 2 * source[r, 0] * (c.isMultiple(of: 2) ? 1 : -1) }
    }
    target = target.l2NormalizedRows()
    let affine = try #require(LinearFits.affine(source: source, target: target, ridge: 1e-4))
    let mlp = ResidualMLPFit(seed: 1).train(source: source, target: target, from: affine, epochs: 60)
    let (mlpAccuracy, affineAccuracy) = (Self.pairAccuracy(mlp.apply(source), target), Self.pairAccuracy(affine.apply(source), target))
    let (mlpCosine, affineCosine) = (Self.meanCosine(mlp.apply(source), target), Self.meanCosine(affine.apply(source), target))
    #expect(mlp.kind == .mlp && mlp.hiddenDim == 256)
    #expect(mlpAccuracy > affineAccuracy + 0.03, "pairs found: mlp \(mlpAccuracy) vs affine \(affineAccuracy)")
    #expect(mlpCosine > affineCosine, "cosine: mlp \(mlpCosine) vs affine \(affineCosine)")
  }
}
