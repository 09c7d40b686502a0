/// How two versions' embeddings relate, as the encoder reports it
/// (`ModelInfo.compatibility`); the retrieval service adds no rule of its own.
public enum VersionRelation: String, Codable, Sendable {
  /// The same version.
  case same
  /// Same lineage and a passing certificate: a query of one may search documents of the other.
  case certified
  /// Same lineage without a passing certificate: comparable in principle, not proven.
  case uncertified
  /// Different lineages, or a version the encoder does not list: never comparable.
  case incompatible
}
