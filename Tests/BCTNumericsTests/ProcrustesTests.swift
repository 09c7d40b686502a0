import BCTNumerics
import Testing

@Suite("Orthogonal Procrustes")
struct ProcrustesTests {
  static func maxAbsDifference(_ a: Matrix, _ b: Matrix) -> Float {
    zip(a.values, b.values).map { abs($0 - $1) }.max() ?? 0
  }

  @Test("recovers a synthetic rotation from rotated points, with and without noise")
  func recoversRotation() throws {
    var generator = SeededGenerator(seed: 3)
    let d = 16
    let rotation = try #require(Procrustes.orthogonalPolarFactor(Matrix.gaussian(rows: d, columns: d, std: 1, using: &generator)))
    let gram = BLAS.matmul(rotation, rotation, transposeA: .transposed)
    for i in 0..<d { for j in 0..<d { #expect(abs(gram[i, j] - (i == j ? 1 : 0)) < 1e-3) } }

    let source = Matrix.gaussian(rows: 400, columns: d, std: 1, using: &generator)
    let target = BLAS.matmul(source, rotation)
    let fitted = try #require(Procrustes.fit(source: source, target: target))
    #expect(Self.maxAbsDifference(fitted, rotation) < 1e-3)

    var noisy = target
    noisy.add(Matrix.gaussian(rows: 400, columns: d, std: 0.05, using: &generator))
    let fromNoisy = try #require(Procrustes.fit(source: source, target: noisy))
    #expect(Self.maxAbsDifference(fromNoisy, rotation) < 0.05)
  }

  @Test("a singular cross-covariance is refused instead of returning a non-orthogonal map")
  func singular() {
    #expect(Procrustes.orthogonalPolarFactor(Matrix(rows: 3, columns: 3)) == nil)
    let rankOne = Matrix(rows: 3, columns: 3, values: [1, 2, 3, 2, 4, 6, 3, 6, 9])
    #expect(Procrustes.orthogonalPolarFactor(rankOne) == nil)
  }
}
