/// Orthogonal Procrustes: the rotation (or reflection) `R` minimising
/// `|A R - B|_F` over orthogonal matrices, `R = U V^T` for `A^T B = U S V^T`.
public enum Procrustes {
  /// The orthogonal `R` (`[d, d]`) that best maps rows of `source` onto the rows
  /// of `target` (both `[n, d]`), or nil when `source^T target` is too close to
  /// singular for the polar iteration to converge.
  public static func fit(source: Matrix, target: Matrix) -> Matrix? {
    precondition(source.rows == target.rows && source.columns == target.columns, "Procrustes: shapes differ")
    return orthogonalPolarFactor(BLAS.matmul(source, target, transposeA: .transposed))
  }

  /// The orthogonal factor `U V^T` of a square matrix's polar decomposition, by the
  /// Newton-Schulz iteration `X <- X (3I - X^T X) / 2` from `M / |M|_F`, which
  /// converges for every non-singular `M`. Nil if it has not converged to
  /// `|X^T X - I|_max <= tolerance` after `maxIterations`.
  public static func orthogonalPolarFactor(_ m: Matrix, tolerance: Float = 1e-4, maxIterations: Int = 300) -> Matrix? {
    precondition(m.rows == m.columns, "polar factor of a square matrix")
    let d = m.rows
    let norm = m.values.reduce(Float(0)) { $0 + $1 * $1 }.squareRoot()
    guard norm > 0, norm.isFinite else { return nil }
    var x = m
    x.values.withUnsafeMutableBufferPointer { v in
      for i in 0..<v.count { v[i] /= norm }
    }
    for _ in 0..<maxIterations {
      var gram = BLAS.matmul(x, x, transposeA: .transposed)
      var deviation: Float = 0
      for i in 0..<d {
        for j in 0..<d {
          deviation = max(deviation, abs(gram[i, j] - (i == j ? 1 : 0)))
        }
      }
      if deviation <= tolerance { return x }
      gram.values.withUnsafeMutableBufferPointer { g in
        for i in 0..<g.count { g[i] *= -0.5 }
      }
      for i in 0..<d { gram[i, i] += 1.5 }
      x = BLAS.matmul(x, gram)
      guard x.isFinite else { return nil }
    }
    return nil
  }
}
