import CBLAS

/// Whether a BLAS operand is used as stored or transposed.
public enum Transpose: Sendable {
  /// Use the operand as stored.
  case none
  /// Use the operand's transpose.
  case transposed

  var cblas: CBLAS_TRANSPOSE { self == .none ? CblasNoTrans : CblasTrans }
}

/// The single doorway to OpenBLAS: every matrix product in the package goes
/// through these calls, so no other module touches the C interface.
public enum BLAS {
  /// General matrix product on row-major buffers:
  /// `c = alpha * op(a) * op(b) + beta * c`, where `op(a)` is `m x k`,
  /// `op(b)` is `k x n` and `c` is `m x n`. `lda`, `ldb`, `ldc` are the row
  /// strides of the buffers as stored.
  public static func gemm(
    m: Int, n: Int, k: Int,
    alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, _ transposeA: Transpose = .none,
    b: UnsafePointer<Float>, ldb: Int, _ transposeB: Transpose = .none,
    beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard m > 0, n > 0 else { return }
    cblas_sgemm(
      CblasRowMajor, transposeA.cblas, transposeB.cblas,
      Int32(m), Int32(n), Int32(k),
      alpha, a, Int32(lda), b, Int32(ldb),
      beta, c, Int32(ldc))
  }

  /// Matrix-vector product on a row-major buffer: `y = alpha * op(a) * x + beta * y`,
  /// `a` stored `rows x columns` with row stride `lda`.
  public static func gemv(
    rows: Int, columns: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, _ transpose: Transpose = .none,
    x: UnsafePointer<Float>, beta: Float = 0, y: UnsafeMutablePointer<Float>
  ) {
    guard rows > 0, columns > 0 else { return }
    cblas_sgemv(
      CblasRowMajor, transpose.cblas, Int32(rows), Int32(columns),
      alpha, a, Int32(lda), x, 1, beta, y, 1)
  }

  /// Matrix product `c = alpha * op(a) * op(b) + beta * c` on `Matrix` values.
  public static func gemm(
    _ a: Matrix, _ b: Matrix,
    transposeA: Transpose = .none, transposeB: Transpose = .none,
    alpha: Float = 1, beta: Float = 0,
    into c: inout Matrix
  ) {
    let (m, k) = transposeA == .none ? (a.rows, a.columns) : (a.columns, a.rows)
    let (kb, n) = transposeB == .none ? (b.rows, b.columns) : (b.columns, b.rows)
    precondition(k == kb, "gemm: inner dimensions differ (\(k) vs \(kb))")
    precondition(
      c.rows == m && c.columns == n,
      "gemm: output is \(c.rows)x\(c.columns), expected \(m)x\(n)")
    a.values.withUnsafeBufferPointer { pa in
      b.values.withUnsafeBufferPointer { pb in
        c.values.withUnsafeMutableBufferPointer { pc in
          gemm(
            m: m, n: n, k: k, alpha: alpha,
            a: pa.baseAddress!, lda: max(a.columns, 1), transposeA,
            b: pb.baseAddress!, ldb: max(b.columns, 1), transposeB,
            beta: beta, c: pc.baseAddress!, ldc: max(n, 1))
        }
      }
    }
  }

  /// The product `op(a) * op(b)` as a new matrix.
  public static func matmul(
    _ a: Matrix, _ b: Matrix,
    transposeA: Transpose = .none, transposeB: Transpose = .none
  ) -> Matrix {
    let m = transposeA == .none ? a.rows : a.columns
    let n = transposeB == .none ? b.columns : b.rows
    var c = Matrix(uninitializedRows: m, columns: n)
    gemm(a, b, transposeA: transposeA, transposeB: transposeB, into: &c)
    return c
  }

  /// Number of threads OpenBLAS uses for the calls that follow.
  public static var threadCount: Int { Int(openblas_get_num_threads()) }

  /// Sets the number of threads OpenBLAS uses (process-wide, as OpenBLAS has it).
  public static func setThreadCount(_ count: Int) {
    openblas_set_num_threads(Int32(max(1, count)))
  }

  /// OpenBLAS's name for the kernel set it runs (e.g. "Cooperlake", "Haswell"):
  /// its own pick for the CPU, unless the environment's `OPENBLAS_CORETYPE` names one.
  public static var coreName: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
}
