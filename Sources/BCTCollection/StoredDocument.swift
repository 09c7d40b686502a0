/// A document as stored: metadata, the raw input it was embedded from (kept so a
/// backfill can re-embed it), and its vector with the version that made it —
/// during a shadow upgrade, also its embedding on the other side of the upgrade.
public struct StoredDocument: Sendable, Equatable {
  /// Caller-chosen id.
  public var id: String
  /// Caller metadata, returned with search hits.
  public var metadata: [String: String]
  /// Shape of one raw input (e.g. [1, 28, 28]); empty when no raw input is kept.
  public var inputShape: [Int]
  /// The raw input values; empty when the document came as an embedding only.
  public var input: [Float]
  /// The model version that made `vector`.
  public var version: String
  /// The embedding.
  public var vector: [Float]
  /// During a shadow upgrade: the embedding for the copy searches do not use
  /// (the target before the switch, the previous version after it); `vector`
  /// is the one they use.
  public var counterpart: VersionedVector?

  /// A document.
  public init(
    id: String, metadata: [String: String], inputShape: [Int], input: [Float], version: String, vector: [Float],
    counterpart: VersionedVector? = nil
  ) {
    self.id = id
    self.metadata = metadata
    self.inputShape = inputShape
    self.input = input
    self.version = version
    self.vector = vector
    self.counterpart = counterpart
  }
}
