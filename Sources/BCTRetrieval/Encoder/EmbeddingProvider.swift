import BCTAdapters
import BCTCollection
import BCTNumerics

/// What the retrieval logic needs from the encoder: its model listing and
/// embeddings. `EncoderGateway` is the real one (gRPC, retries, on-disk cache);
/// tests put an in-process fake here.
public protocol EmbeddingProvider: Sendable {
  /// The versions as last fetched, without a call (possibly empty).
  var cachedModels: ModelTable { get }

  /// The encoder's versions, fetched when the cached listing is older than
  /// `maxAge` (or `force`); the cached listing when the encoder is unreachable.
  func models(maxAge: Duration, force: Bool, deadline: ContinuousClock.Instant?) async throws -> ModelTable

  /// L2-normalised embeddings of `inputs` (one row per input of `rowShape`) by `version`.
  func embed(_ inputs: Matrix, rowShape: [Int], version: String, deadline: ContinuousClock.Instant?) async throws -> Matrix

  /// The adapter (fitted by `bct adapt`) that version `holder` keeps for the older
  /// version `old` in `direction`: the query adapter P (holder -> old) or the document
  /// transform T (old -> holder).
  func adapter(
    holder: String, old: String, direction: AdapterDirection, deadline: ContinuousClock.Instant?
  ) async throws -> EmbeddingAdapter
}

extension EmbeddingProvider {
  /// No adapters: an encoder that serves none.
  public func adapter(
    holder: String, old: String, direction: AdapterDirection, deadline: ContinuousClock.Instant?
  ) async throws -> EmbeddingAdapter {
    throw EncoderError.refused(code: .notFound, message: "\(holder) holds no \(direction.rawValue) adapter to \(old)")
  }

  /// The listing, refreshed at most every 5 seconds.
  public func models(deadline: ContinuousClock.Instant?) async throws -> ModelTable {
    try await models(maxAge: .seconds(5), force: false, deadline: deadline)
  }
}
