import BCTCollection
import BCTNumerics
import BCTRetrieval
import Foundation
import GRPCCore
import Synchronization

/// An in-process encoder: each version is a fixed random linear map of 8-value
/// inputs to unit vectors, with the relations the test declares. A version can
/// be held (its embed calls wait) to freeze a backfill mid-way.
final class FakeEncoder: EmbeddingProvider {
  private let listing: Mutex<ModelTable>
  var table: ModelTable { listing.withLock { $0 } }
  /// Embed calls each held version may still make (absent: unlimited).
  private let budget = Mutex<[String: Int]>([:])
  private let calls = Mutex<[String: Int]>([:])
  private let entered = Mutex<[String: Int]>([:])
  static let inputWidth = 8

  /// Versions `v1` (lineage A), `v2` certified against v1, `v3` of lineage A not
  /// certified against v1 or v2 (certificate figures included), `w1` of lineage B.
  init() {
    func info(_ v: String, lineage: String, dim: Int, order: Int, relations: [String: VersionRelation], certificates: [String: CertificateQuote] = [:]) -> VersionInfo {
      VersionInfo(version: v, lineage: lineage, dimension: dim, inputShape: [Self.inputWidth], order: order, relations: relations, certificates: certificates)
    }
    let failed = CertificateQuote(
      passed: false, figures: "top-1 80.0 -> 71.5 -> 86.0, mAP 70.0 -> 60.2 -> 78.0 on validation split, margin 0.5 point",
      reasons: ["top-1: new queries on old documents 71.50 vs old on old 80.00 (gain -8.50, needs > 0.50)"])
    listing = Mutex(ModelTable(versions: [
      "v1": info("v1", lineage: "A", dim: 6, order: 0, relations: ["v2": .certified, "v3": .uncertified, "w1": .incompatible]),
      "v2": info("v2", lineage: "A", dim: 6, order: 1, relations: ["v1": .certified, "v3": .uncertified, "w1": .incompatible],
                 certificates: ["v1": CertificateQuote(passed: true, figures: "top-1 80.0 -> 82.0 -> 85.0", reasons: [])]),
      "v3": info("v3", lineage: "A", dim: 6, order: 2, relations: ["v1": .uncertified, "v2": .uncertified, "w1": .incompatible],
                 certificates: ["v1": failed, "v2": failed]),
      "w1": info("w1", lineage: "B", dim: 4, order: 3, relations: ["v1": .incompatible, "v2": .incompatible, "v3": .incompatible]),
    ], defaultVersion: "v2"))
  }

  /// Stops hosting `version` (its folder was removed from the repository).
  func remove(_ version: String) { listing.withLock { _ = $0.versions.removeValue(forKey: version) } }

  /// Changes a version's embedding size under the same name (a bad hot reload).
  func redefine(_ version: String, dimension: Int) { listing.withLock { $0.versions[version]?.dimension = dimension } }

  var cachedModels: ModelTable { table }

  func models(maxAge: Duration, force: Bool, deadline: ContinuousClock.Instant?) async throws -> ModelTable { table }

  func embed(_ inputs: Matrix, rowShape: [Int], version: String, deadline: ContinuousClock.Instant?) async throws -> Matrix {
    entered.withLock { $0[version, default: 0] += 1 }
    while !budget.withLock({ budget in
      guard let left = budget[version] else { return true }
      if left > 0 { budget[version] = left - 1 }
      return left > 0
    }) {
      try await Task.sleep(for: .milliseconds(2))
    }
    calls.withLock { $0[version, default: 0] += inputs.rows }
    return try Self.embed(inputs, version: version, table: table)
  }

  /// Makes embed calls of `version` wait until `release`, after `calls` more.
  func hold(_ version: String, after calls: Int = 0) { budget.withLock { $0[version] = calls } }
  func release(_ version: String) { budget.withLock { _ = $0.removeValue(forKey: version) } }
  /// Embed calls of `version` begun so far (held ones included).
  func calls(_ version: String) -> Int { entered.withLock { $0[version] ?? 0 } }
  /// Inputs embedded with `version` so far.
  func embedded(_ version: String) -> Int { calls.withLock { $0[version] ?? 0 } }

  /// The embedding of each row of `inputs` by `version`.
  static func embed(_ inputs: Matrix, version: String, table: ModelTable) throws -> Matrix {
    guard let info = table.versions[version] else { throw RPCError(code: .notFound, message: "no \(version)") }
    var generator = SeededGenerator(seed: version.unicodeScalars.reduce(UInt64(7)) { $0 &* 31 &+ UInt64($1.value) })
    let weights = (0..<(info.dimension * inputWidth)).map { _ in Float.random(in: -1...1, using: &generator) }
    var out = [Float](repeating: 0, count: inputs.rows * info.dimension)
    for r in 0..<inputs.rows {
      var norm: Float = 0
      for d in 0..<info.dimension {
        var sum: Float = 0
        for c in 0..<inputWidth { sum += weights[d * inputWidth + c] * inputs.values[r * inputWidth + c] }
        out[r * info.dimension + d] = sum
        norm += sum * sum
      }
      let scale = 1 / max(norm.squareRoot(), 1e-12)
      for d in 0..<info.dimension { out[r * info.dimension + d] *= scale }
    }
    return Matrix(rows: inputs.rows, columns: info.dimension, values: out)
  }

  /// A deterministic raw input for document or query number `i`.
  static func input(_ i: Int) -> [Float] {
    var generator = SeededGenerator(seed: UInt64(1000 + i))
    return (0..<inputWidth).map { _ in Float.random(in: -1...1, using: &generator) }
  }
}
