/// What a version folder holds.
public enum VersionKind: String, Codable, Sendable, CaseIterable {
  /// A backbone and a classifier head trained by bct: the encoder embeds raw inputs with it.
  case trained
  /// No backbone: embeddings are computed elsewhere (a text embedder behind an API,
  /// a PyTorch model) and sent to the services as vectors. The folder holds the
  /// manifest and any adapters fitted between it and other versions.
  case external
}
