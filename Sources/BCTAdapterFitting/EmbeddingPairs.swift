import BCTData
import BCTNumerics

/// The same items embedded by two models outside bct, read from `.npy` files: row i
/// of each file is item i, labelled `labels[i]` (class relevance: items of one class
/// are relevant to each other). Rows are L2-normalised, as the adapters and the
/// certificate take them.
public struct EmbeddingPairs: Sendable {
  public var old: Matrix
  public var new: Matrix
  public var labels: [Int]

  /// Reads and checks the three files: 2-d embeddings of the same row count,
  /// finite, no zero row; integral, non-negative labels, one per row.
  /// Without `labels`, each row is its own item (label = row number).
  public static func read(old oldPath: String, new newPath: String, labels labelsPath: String?) throws -> EmbeddingPairs {
    let old = try embeddings(oldPath)
    let new = try embeddings(newPath)
    guard old.rows == new.rows else {
      throw DataError(path: newPath, "\(new.rows) rows, but \(oldPath) has \(old.rows); row i of both must be the same item")
    }
    guard let labelsPath else { return EmbeddingPairs(old: old, new: new, labels: Array(0..<old.rows)) }
    let file = try ArrayFile.read(path: labelsPath)
    guard file.values.count == old.rows, file.shape.count == 1 || (file.shape.count == 2 && file.shape[1] == 1) else {
      throw DataError(path: labelsPath, "shape \(file.shape); expected one label per row ([\(old.rows)])")
    }
    if let bad = file.values.firstIndex(where: { !($0 >= 0 && $0 < 1e7 && $0.rounded() == $0) }) {
      throw DataError(path: labelsPath, "label \(file.values[bad]) at row \(bad) is not a class number (an integer 0 to 9,999,999)")
    }
    let labels = file.values.map { Int($0) }
    guard Set(labels).count < labels.count else {
      throw DataError(path: labelsPath, "every row has a label of its own, so no item is relevant to another; give items of one class the same label")
    }
    return EmbeddingPairs(old: old, new: new, labels: labels)
  }

  private static func embeddings(_ path: String) throws -> Matrix {
    let file = try ArrayFile.read(path: path)
    guard file.shape.count == 2, file.shape[0] >= 2, (1...(1 << 16)).contains(file.shape[1]) else {
      throw DataError(path: path, "shape \(file.shape); expected embeddings [rows >= 2, width 1 to 65536]")
    }
    let matrix = Matrix(rows: file.shape[0], columns: file.shape[1], values: file.values)
    for r in 0..<matrix.rows {
      let row = matrix.row(r)
      guard row.allSatisfy(\.isFinite), row.contains(where: { $0 != 0 }) else {
        throw DataError(path: path, "row \(r) is \(row.allSatisfy(\.isFinite) ? "all zeros" : "not finite"); every embedding needs a direction")
      }
    }
    return matrix.l2NormalizedRows()
  }

  public init(old: Matrix, new: Matrix, labels: [Int]) {
    self.old = old
    self.new = new
    self.labels = labels
  }

  /// The rows at `indices`.
  public func rows(_ indices: [Int]) -> PairAdaptation.Embeddings {
    .init(old: old.gatherRows(indices), new: new.gatherRows(indices), labels: indices.map { labels[$0] })
  }

  /// Calibration pairs (to fit and choose on) and a held-out validation split (to
  /// certify on): `fraction` of the rows, chosen by `seed`.
  public func split(fraction: Double, seed: UInt64) -> (calibration: PairAdaptation.Embeddings, validation: PairAdaptation.Embeddings) {
    let (train, validation) = Dataset.validationIndices(count: labels.count, fraction: fraction, seed: seed)
    return (rows(train), rows(validation))
  }
}
