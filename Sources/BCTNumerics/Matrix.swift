/// A dense, row-major matrix of `Float` values: the unit of data every model,
/// loss and index in this package computes on.
public struct Matrix: Sendable, Equatable {
  /// Number of rows.
  public let rows: Int
  /// Number of columns.
  public let columns: Int
  /// The elements, row after row (`rows * columns` of them).
  public var values: [Float]

  /// A matrix of the given size with every element set to `value`.
  public init(rows: Int, columns: Int, repeating value: Float = 0) {
    precondition(rows >= 0 && columns >= 0, "matrix dimensions must be non-negative")
    self.rows = rows
    self.columns = columns
    self.values = [Float](repeating: value, count: rows * columns)
  }

  /// A matrix whose every element the caller overwrites before reading it (the
  /// output of a GEMM with beta 0, or of a gather); skips the zero fill.
  public init(uninitializedRows rows: Int, columns: Int) {
    precondition(rows >= 0 && columns >= 0, "matrix dimensions must be non-negative")
    self.rows = rows
    self.columns = columns
    self.values = [Float](unsafeUninitializedCapacity: rows * columns) { _, count in count = rows * columns }
  }

  /// A matrix over existing row-major `values`; their count must be `rows * columns`.
  public init(rows: Int, columns: Int, values: [Float]) {
    precondition(rows >= 0 && columns >= 0, "matrix dimensions must be non-negative")
    precondition(
      values.count == rows * columns,
      "a \(rows)x\(columns) matrix needs \(rows * columns) values, got \(values.count)")
    self.rows = rows
    self.columns = columns
    self.values = values
  }

  /// The element at `row`, `column`.
  public subscript(row: Int, column: Int) -> Float {
    get { values[row * columns + column] }
    set { values[row * columns + column] = newValue }
  }

  /// The transpose, as a new row-major matrix.
  public func transposed() -> Matrix {
    var result = Matrix(rows: columns, columns: rows)
    values.withUnsafeBufferPointer { source in
      result.values.withUnsafeMutableBufferPointer { target in
        for r in 0..<rows {
          for c in 0..<columns {
            target[c * rows + r] = source[r * columns + c]
          }
        }
      }
    }
    return result
  }
}
