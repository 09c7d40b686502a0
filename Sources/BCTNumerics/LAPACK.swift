import CBLAS

/// The two LAPACK routines the package needs, from OpenBLAS: a thin singular value
/// decomposition and a symmetric positive-definite solve. Row-major `Matrix` values
/// in and out; the column-major convention of Fortran stays inside this file.
public enum LAPACK {
  /// Thin SVD `a = u * diag(s) * vt`, `u` `[m, k]`, `vt` `[k, n]`, `k = min(m, n)`;
  /// singular values descending. Nil when LAPACK reports failure (no convergence)
  /// or the input holds a non-finite value.
  public static func svd(_ a: Matrix) -> (u: Matrix, s: [Float], vt: Matrix)? {
    let (m, n) = (a.rows, a.columns)
    let k = min(m, n)
    guard k > 0, a.isFinite, let m32 = Int32(exactly: m), let n32 = Int32(exactly: n) else { return nil }
    // Row-major a [m, n] is column-major a^T [n, m]: decompose a^T = (vt^T) s (u^T),
    // so LAPACK's U of a^T is our V (column-major [n, k] = row-major vt [k, n]), and its
    // VT of a^T is our U^T (column-major [k, m] = row-major u [m, k]).
    var work = a.values
    var s = [Float](repeating: 0, count: k)
    var vtRowMajor = [Float](repeating: 0, count: k * n)
    var uRowMajor = [Float](repeating: 0, count: m * k)
    var info: Int32 = 0
    var query: Float = 0
    var lwork: Int32 = -1
    var (rows, columns, kk) = (n32, m32, Int32(k))
    let job: [CChar] = [CChar(UInt8(ascii: "S")), 0]
    sgesvd_(job, job, &rows, &columns, &work, &rows, &s, &vtRowMajor, &rows, &uRowMajor, &kk, &query, &lwork, &info)
    guard info == 0 else { return nil }
    lwork = Int32(max(1, Int(query)))
    var scratch = [Float](repeating: 0, count: Int(lwork))
    sgesvd_(job, job, &rows, &columns, &work, &rows, &s, &vtRowMajor, &rows, &uRowMajor, &kk, &scratch, &lwork, &info)
    guard info == 0 else { return nil }
    return (Matrix(rows: m, columns: k, values: uRowMajor), s, Matrix(rows: k, columns: n, values: vtRowMajor))
  }

  /// The solution `x` of `a x = b` for a symmetric positive-definite `a` (`[n, n]`)
  /// and right-hand sides `b` (`[n, r]`), by Cholesky; nil when `a` is not
  /// positive definite (or not finite).
  public static func solvePositiveDefinite(_ a: Matrix, _ b: Matrix) -> Matrix? {
    let n = a.rows
    guard a.columns == n, b.rows == n, n > 0, b.columns > 0, a.isFinite, b.isFinite,
          var n32 = Int32(exactly: n), var r32 = Int32(exactly: b.columns)
    else { return nil }
    // a is symmetric, so its row-major storage is its column-major storage; b must be
    // transposed into column-major and the solution back.
    var factor = a.values
    var rhs = b.transposed().values
    var info: Int32 = 0
    var lda = n32
    let upper: [CChar] = [CChar(UInt8(ascii: "U")), 0]
    sposv_(upper, &n32, &r32, &factor, &lda, &rhs, &lda, &info)
    guard info == 0 else { return nil }
    return Matrix(rows: b.columns, columns: n, values: rhs).transposed()
  }
}
