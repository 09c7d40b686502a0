import BCTAdapters
import BCTCollection
import BCTNumerics
@testable import BCTRetrieval
import Synchronization
import Testing

/// The retrieval service keeps fetched adapters (P for queries, T for transform
/// backfills) until the encoder's listing names another file for them.
@Suite("Adapters kept by the retrieval service")
struct AdapterCacheTests {
  /// An encoder whose adapters are the identity scaled by the number of its fetches so far.
  final class CountingEncoder: EmbeddingProvider {
    let fetches = Mutex(0)
    var cachedModels: ModelTable { ModelTable(versions: [:], defaultVersion: "") }
    func models(maxAge: Duration, force: Bool, deadline: ContinuousClock.Instant?) async throws -> ModelTable { cachedModels }
    func embed(_ inputs: Matrix, rowShape: [Int], version: String, deadline: ContinuousClock.Instant?) async throws -> Matrix { inputs }
    func adapter(holder: String, old: String, direction: AdapterDirection, deadline: ContinuousClock.Instant?) async throws -> EmbeddingAdapter {
      let scale = fetches.withLock { $0 += 1; return Float($0) }
      return EmbeddingAdapter(
        kind: .affine, linear: Matrix(rows: 2, columns: 2, values: [scale, 0, 0, scale]), bias: Matrix(rows: 1, columns: 2, values: [0, 0]))
    }
  }

  @Test("the same file is fetched once; a re-fit (another file sha256) is fetched again; directions and pairs are kept apart")
  func refetchOnNewFile() async throws {
    let encoder = CountingEncoder()
    let cache = AdapterCache(encoder: encoder)
    let first = try await cache.adapter(holder: "w1", old: "v1", direction: .document, fileSha256: "aa", deadline: nil)
    let again = try await cache.adapter(holder: "w1", old: "v1", direction: .document, fileSha256: "aa", deadline: nil)
    #expect(encoder.fetches.withLock { $0 } == 1 && again.linear.values == first.linear.values)
    let refit = try await cache.adapter(holder: "w1", old: "v1", direction: .document, fileSha256: "bb", deadline: nil)
    #expect(encoder.fetches.withLock { $0 } == 2 && refit.linear.values == [2, 0, 0, 2])
    _ = try await cache.adapter(holder: "w1", old: "v1", direction: .query, fileSha256: "bb", deadline: nil)
    _ = try await cache.adapter(holder: "w2", old: "v1", direction: .document, fileSha256: "bb", deadline: nil)
    #expect(encoder.fetches.withLock { $0 } == 4)
  }
}
