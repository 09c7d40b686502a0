/// One logged change of a collection; replaying them in order rebuilds it.
public enum Mutation: Sendable, Equatable {
  /// Insert or replace documents.
  case upsert([StoredDocument])
  /// Remove documents by id (from both copies during a shadow upgrade).
  case delete([String])
  /// Replace the searched vectors of existing documents (an in-place backfill batch).
  case reembed([Reembedded])
  /// Add target-version vectors to the shadow copy (a shadow backfill batch).
  case shadowEmbed([Reembedded])
  /// The version new raw documents are embedded with.
  case setDocumentVersion(String)
  /// Start (or, with nil, end) a backfill.
  case setBackfill(BackfillPlan?)
  /// Start a shadow upgrade with its backfill.
  case startShadow(ShadowUpgrade, BackfillPlan)
  /// Switch searches to the (complete) shadow copy, at a time in seconds since 1970.
  case switchShadow(at: Double)
  /// Abandon the shadow upgrade: searches use the previous copy, the target one is dropped.
  case rollbackShadow
  /// Drop the previous copy of a switched upgrade.
  case finalizeShadow

  /// A re-embedded vector.
  public struct Reembedded: Sendable, Equatable {
    /// Document id.
    public var id: String
    /// The new vector's version.
    public var version: String
    /// The new vector.
    public var vector: [Float]

    /// A re-embedded vector.
    public init(id: String, version: String, vector: [Float]) {
      self.id = id
      self.version = version
      self.vector = vector
    }
  }
}
