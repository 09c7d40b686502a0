import BCTAdapters
import BCTNumerics

/// The closed-form adapters: orthogonal Procrustes and ridge-regularised affine
/// least squares, both from paired rows `source[i] -> target[i]`.
public enum LinearFits {
  /// The semi-orthogonal `W` (`[d_in, d_out]`) minimising `|source W - target|_F`:
  /// `U V^T` for `source^T target = U S V^T` (Schönemann 1966). With unequal
  /// dimensions it is the Procrustes map of the zero-padded problem, restricted to
  /// the real coordinates. Nil when the SVD fails.
  public static func procrustes(source: Matrix, target: Matrix) -> EmbeddingAdapter? {
    let cross = BLAS.matmul(source, target, transposeA: .transposed)
    guard let factors = LAPACK.svd(cross) else { return nil }
    return EmbeddingAdapter(
      kind: .procrustes, linear: BLAS.matmul(factors.u, factors.vt), bias: Matrix(rows: 1, columns: target.columns))
  }

  /// `x W + b` minimising `|source W + 1 b - target|^2 + ridge * n * |W|^2` (the bias
  /// unpenalised): the normal equations solved by Cholesky. Nil when they are singular.
  public static func affine(source: Matrix, target: Matrix, ridge: Float) -> EmbeddingAdapter? {
    let (n, d) = (source.rows, source.columns)
    guard n > 0 else { return nil }
    let gram = BLAS.matmul(source, source, transposeA: .transposed)
    let sourceSums = source.columnSums()
    var system = Matrix(rows: d + 1, columns: d + 1)
    for i in 0..<d {
      for j in 0..<d { system[i, j] = gram[i, j] }
      system[i, i] += ridge * Float(n)
      system[i, d] = sourceSums.values[i]
      system[d, i] = sourceSums.values[i]
    }
    system[d, d] = Float(n)
    let crossProducts = BLAS.matmul(source, target, transposeA: .transposed)
    let targetSums = target.columnSums()
    var rhs = Matrix(rows: d + 1, columns: target.columns)
    rhs.values.replaceSubrange(0..<(d * target.columns), with: crossProducts.values)
    rhs.values.replaceSubrange((d * target.columns)..<((d + 1) * target.columns), with: targetSums.values)
    guard let solution = LAPACK.solvePositiveDefinite(system, rhs) else { return nil }
    let linear = Matrix(rows: d, columns: target.columns, values: Array(solution.values[0..<(d * target.columns)]))
    let bias = Matrix(rows: 1, columns: target.columns, values: Array(solution.values[(d * target.columns)...]))
    return EmbeddingAdapter(kind: .affine, linear: linear, bias: bias)
  }
}
