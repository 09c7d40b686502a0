import BCTNumerics
import Testing

@Suite("BLAS wrapper")
struct BLASTests {
  /// Straightforward triple loop: the reference the BLAS path must match.
  static func reference(
    _ a: Matrix, _ ta: Transpose, _ b: Matrix, _ tb: Transpose,
    alpha: Float, beta: Float, c: Matrix
  ) -> Matrix {
    let opA = ta == .none ? a : a.transposed()
    let opB = tb == .none ? b : b.transposed()
    var out = c
    for i in 0..<opA.rows {
      for j in 0..<opB.columns {
        var sum: Float = 0
        for p in 0..<opA.columns { sum += opA[i, p] * opB[p, j] }
        out[i, j] = alpha * sum + beta * c[i, j]
      }
    }
    return out
  }

  static func sequential(rows: Int, columns: Int, offset: Float) -> Matrix {
    Matrix(
      rows: rows, columns: columns,
      values: (0..<(rows * columns)).map { Float(($0 * 7) % 13) - 6 + offset })
  }

  @Test(
    "gemm matches the reference for every transpose combination",
    arguments: [(Transpose.none, Transpose.none), (.transposed, .none), (.none, .transposed),
      (.transposed, .transposed)])
  func gemmMatchesReference(ta: Transpose, tb: Transpose) {
    let (m, k, n) = (5, 7, 3)
    let a = ta == .none ? Self.sequential(rows: m, columns: k, offset: 0.5)
                        : Self.sequential(rows: k, columns: m, offset: 0.5)
    let b = tb == .none ? Self.sequential(rows: k, columns: n, offset: -0.25)
                        : Self.sequential(rows: n, columns: k, offset: -0.25)
    let c0 = Self.sequential(rows: m, columns: n, offset: 1)
    var c = c0
    BLAS.gemm(a, b, transposeA: ta, transposeB: tb, alpha: 0.5, beta: 2, into: &c)
    let expected = Self.reference(a, ta, b, tb, alpha: 0.5, beta: 2, c: c0)
    #expect(c.rows == m && c.columns == n)
    for (x, y) in zip(c.values, expected.values) {
      #expect(abs(x - y) <= 1e-4 * max(1, abs(y)))
    }
  }

  @Test("matmul of a matrix with the identity returns it unchanged")
  func identity() {
    let a = Self.sequential(rows: 4, columns: 6, offset: 0.125)
    var eye = Matrix(rows: 6, columns: 6)
    for i in 0..<6 { eye[i, i] = 1 }
    #expect(BLAS.matmul(a, eye) == a)
    #expect(BLAS.matmul(a, a.transposed(), transposeA: .transposed, transposeB: .transposed) == BLAS.matmul(a.transposed(), a))
  }

  @Test("empty products leave the output alone")
  func emptyProducts() {
    let a = Matrix(rows: 0, columns: 3)
    let b = Matrix(rows: 3, columns: 2, repeating: 1)
    #expect(BLAS.matmul(a, b) == Matrix(rows: 0, columns: 2))
    let zeroInner = BLAS.matmul(Matrix(rows: 2, columns: 0), Matrix(rows: 0, columns: 2))
    #expect(zeroInner == Matrix(rows: 2, columns: 2))
  }

  @Test("a large product agrees with the reference on sampled entries")
  func largeProduct() {
    let a = Self.sequential(rows: 130, columns: 257, offset: 0.3)
    let b = Self.sequential(rows: 257, columns: 65, offset: -0.7)
    let c = BLAS.matmul(a, b)
    for (i, j) in [(0, 0), (129, 64), (64, 31), (17, 3)] {
      var sum: Float = 0
      for p in 0..<257 { sum += a[i, p] * b[p, j] }
      #expect(abs(c[i, j] - sum) <= 1e-3 * max(1, abs(sum)))
    }
  }

  @Test("the thread count can be set and read back")
  func threads() {
    let before = BLAS.threadCount
    BLAS.setThreadCount(1)
    #expect(BLAS.threadCount == 1)
    BLAS.setThreadCount(before)
    #expect(BLAS.threadCount == before)
  }

  @Test("transposed swaps rows and columns")
  func transpose() {
    let a = Matrix(rows: 2, columns: 3, values: [1, 2, 3, 4, 5, 6])
    #expect(a.transposed() == Matrix(rows: 3, columns: 2, values: [1, 4, 2, 5, 3, 6]))
    #expect(a.transposed().transposed() == a)
  }
}
