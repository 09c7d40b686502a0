import BCTAdapters
import BCTCollection
import Synchronization

/// Adapters fetched from the encoder (GetAdapter), each kept until the encoder's
/// listing names another file for it (`AdapterInfo.file_sha256`), so a re-fitted
/// adapter replaces the one kept at the next call.
final class AdapterCache: Sendable {
  private let encoder: any EmbeddingProvider
  private let kept = Mutex([String: (fileSha256: String, adapter: EmbeddingAdapter)]())

  init(encoder: any EmbeddingProvider) {
    self.encoder = encoder
  }

  /// The adapter `holder` keeps for `old` in `direction`, whose file has `fileSha256`.
  func adapter(
    holder: String, old: String, direction: AdapterDirection, fileSha256: String, deadline: ContinuousClock.Instant?
  ) async throws -> EmbeddingAdapter {
    let key = "\(holder)\u{0}\(old)\u{0}\(direction.rawValue)"
    if let entry = kept.withLock({ $0[key] }), entry.fileSha256 == fileSha256 { return entry.adapter }
    let fetched = try await encoder.adapter(holder: holder, old: old, direction: direction, deadline: deadline)
    kept.withLock { $0[key] = (fileSha256, fetched) }
    return fetched
  }
}
