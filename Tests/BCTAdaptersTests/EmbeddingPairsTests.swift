import BCTAdapterFitting
import BCTData
import Foundation
import Testing

/// `bct adapt`'s paired embeddings from `.npy` files: shapes, values and labels checked.
@Suite("Paired embeddings from .npy files")
struct EmbeddingPairsTests {
  static func write(_ shape: [Int], _ values: [Float]) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("pairs-\(UUID().uuidString).npy")
    try Data(NPY.encode(shape: shape, values: values)).write(to: url)
    return url.path
  }

  @Test("rows are normalised, split disjointly and deterministically")
  func readsAndSplits() throws {
    let old = try Self.write([10, 2], (0..<20).map { Float($0 + 1) })
    let new = try Self.write([10, 3], (0..<30).map { Float($0 % 7 + 1) })
    let labels = try Self.write([10], (0..<10).map { Float($0 % 3) })
    let pairs = try EmbeddingPairs.read(old: old, new: new, labels: labels)
    #expect(pairs.old.rows == 10 && pairs.new.columns == 3 && pairs.labels == (0..<10).map { $0 % 3 })
    let norm = pairs.old.row(3).reduce(0) { $0 + $1 * $1 }
    #expect(abs(norm - 1) < 1e-5)
    let (calibration, validation) = pairs.split(fraction: 0.3, seed: 1)
    #expect(calibration.labels.count == 7 && validation.labels.count == 3)
    #expect(pairs.split(fraction: 0.3, seed: 1).validation.old.values == validation.old.values)
  }

  @Test("mismatched rows, zero or non-finite rows and non-integral labels are refused, naming the file")
  func refusals() throws {
    let old = try Self.write([4, 2], [1, 0, 0, 1, 1, 1, 2, 2])
    let labels = try Self.write([4], [0, 1, 0, 1])
    for (new, labelsPath, reason) in [
      (try Self.write([3, 2], [1, 0, 0, 1, 1, 1]), labels, "3 rows"),
      (try Self.write([4, 2], [1, 0, 0, 0, 1, 1, 2, 2]), labels, "all zeros"),
      (try Self.write([4, 2], [1, 0, .nan, 1, 1, 1, 2, 2]), labels, "not finite"),
      (old, try Self.write([4], [0, 1.5, 0, 1]), "not a class number"),
      (old, try Self.write([3], [0, 1, 0]), "one label per row"),
      (old, try Self.write([4], [0, 1, 2, 3]), "a label of its own"),
    ] {
      #expect { try EmbeddingPairs.read(old: old, new: new, labels: labelsPath) } throws: { "\($0)".contains(reason) }
    }
  }
}
