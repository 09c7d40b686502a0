import BCTAdapters
import BCTCollection
import BCTNumerics

/// Search mode QUERY_ADAPTED for queries that reach the retrieval service: query
/// vectors of a version mapped into an older version's space by the query adapter P
/// that the newer version holds (fetched from the encoder with GetAdapter, the same
/// file the encoder applies for `Embed.target_version`). A fetched adapter is kept
/// until the encoder's listing names another file for it.
final class QueryAdaptation: Sendable {
  private let adapters: AdapterCache

  init(encoder: any EmbeddingProvider) {
    self.adapters = AdapterCache(encoder: encoder)
  }

  /// `vectors` of `holder`, L2-normalised, mapped by P into `old`'s space (unit rows).
  func map(
    _ vectors: Matrix, from holder: String, to old: String, fileSha256: String, deadline: ContinuousClock.Instant?
  ) async throws -> Matrix {
    let adapter = try await adapters.adapter(holder: holder, old: old, direction: .query, fileSha256: fileSha256, deadline: deadline)
    guard adapter.inputDim == vectors.columns else {
      throw RetrievalError.queryDimensionMismatch(query: holder, dimension: vectors.columns, document: old, held: adapter.inputDim)
    }
    return adapter.apply(vectors.l2NormalizedRows())
  }

}
