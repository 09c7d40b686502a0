import BCTNumerics

/// How an adapter maps one embedding space onto another.
public enum AdapterKind: String, Sendable, Codable, CaseIterable {
  /// An orthogonal (semi-orthogonal when the dimensions differ) map: the orthogonal
  /// Procrustes solution, distances kept, no bias.
  case procrustes
  /// A ridge-regularised affine least-squares map `x W + b`.
  case affine
  /// The affine map plus a residual one-hidden-layer ReLU network, trained with an
  /// InfoNCE retrieval loss against the target space.
  case mlp
}

/// Which way an adapter between an old version A and a new version B goes.
public enum AdapterDirection: String, Sendable, Codable, CaseIterable {
  /// P: B -> A. A new-model query, mapped, searches old documents.
  case query
  /// T: A -> B. A stored old embedding, mapped, stands in for a new one.
  case document
}

extension AdapterDirection {
  /// The cross-model search of this direction's mode, from unit-norm `old` and `new`
  /// embeddings of the same items: P(new) queries on old documents (query), or new
  /// queries on T(old) documents (document). The one definition of both modes.
  public func crossSearch(_ adapter: EmbeddingAdapter, old: Matrix, new: Matrix) -> (queries: Matrix, gallery: Matrix) {
    self == .query ? (adapter.apply(new), old) : (new, adapter.apply(old))
  }
}
