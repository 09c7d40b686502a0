/// Why the retrieval service refuses or fails a call: thrown by the version policy,
/// the upgrade rules, intake, search, backfill and both stores, and mapped to a gRPC
/// status in one place at the service's edge (`RetrievalError+Status`). The
/// `description` is the message callers read.
public enum RetrievalError: Error, Sendable, Equatable {
  // MARK: The request

  /// A request field out of its range or malformed (INVALID_ARGUMENT).
  case invalidArgument(field: String, message: String)
  /// A request over a count or size limit (RESOURCE_EXHAUSTED).
  case overLimit(field: String, message: String)
  /// A Search reply over the size limit (RESOURCE_EXHAUSTED).
  case replyTooLarge(hits: Int, queries: Int, k: Int, bytes: Int, limit: Int)
  /// A version the encoder does not host, named in `field` (NOT_FOUND).
  case unknownVersion(field: String, version: String, known: [String])
  /// Query embeddings of a version neither the encoder nor any document has (NOT_FOUND).
  case unknownQueryVersion(version: String, known: [String])
  /// Documents a Delete named that do not exist; nothing was deleted (NOT_FOUND).
  case documentsMissing(ids: [String])
  /// A document's input does not have the size its version takes (INVALID_ARGUMENT).
  case inputSize(document: String, values: Int, version: String, shape: [Int])
  /// A stored input that does not match its own shape (INVALID_ARGUMENT).
  case storedInputCorrupt(document: String, values: Int, shape: [Int])

  // MARK: The version policy

  /// The encoder lists no versions (UNAVAILABLE).
  case noVersions
  /// No hosted version is certified against every document version present (FAILED_PRECONDITION).
  case noCertifiedQueryVersion(documents: [String])
  /// A version of one lineage without a passing certificate against a document version (FAILED_PRECONDITION).
  case notCertified(role: VersionRole, version: String, document: String, explanation: String)
  /// A version of another lineage than a document version (FAILED_PRECONDITION).
  case incompatible(role: VersionRole, version: String, document: String, explanation: String)
  /// A backfill to another lineage that did not ask for shadow mode (FAILED_PRECONDITION).
  case crossLineageNeedsShadow(target: String, document: String, explanation: String)
  /// An in-place backfill to an uncertified target (FAILED_PRECONDITION).
  case inPlaceNotCertified(target: String, reason: String)
  /// A version's vectors changed length under the same name (FAILED_PRECONDITION).
  case dimensionConflict(version: String, dimension: Int, held: Int)
  /// Query vectors whose length differs from a searched version's (FAILED_PRECONDITION).
  case queryDimensionMismatch(query: String, dimension: Int, document: String, held: Int)

  // MARK: Upgrades

  /// A shadow upgrade to another target is in progress (FAILED_PRECONDITION).
  case shadowInProgress(target: String, switched: Bool)
  /// The index already switched to the target (FAILED_PRECONDITION).
  case alreadySwitched(target: String)
  /// A backfill to another target is running (FAILED_PRECONDITION).
  case backfillRunning(target: String)
  /// A shadow backfill cannot start: documents stored as embeddings only (FAILED_PRECONDITION).
  case inputsMissing(target: String, documents: Int)
  /// Raw inputs for an external version, which nothing here can embed (FAILED_PRECONDITION).
  case externalVersion(field: String, version: String)
  /// A transform backfill needs the documents searched at exactly one ordinary version (FAILED_PRECONDITION).
  case transformNeedsOneSource(target: String, searched: [String])
  /// No certified, usable document transform from the source to the target (FAILED_PRECONDITION).
  case transformNotCertified(target: String, source: String)
  /// A transform backfill by a usable but uncertified transform, without the operator's consent (FAILED_PRECONDITION).
  case transformUncertified(target: String, source: String)
  /// An uncertified transform asked to move in place (FAILED_PRECONDITION).
  case uncertifiedTransformInPlace(target: String, source: String)
  /// A document of another version than the transform's source (FAILED_PRECONDITION).
  case transformSourceMismatch(document: String, version: String, source: String)
  /// Finalize without a shadow upgrade (FAILED_PRECONDITION).
  case noShadowToFinalize
  /// Finalize before the switch (FAILED_PRECONDITION).
  case notSwitched(target: String, done: Int, total: Int)
  /// Stop without a running backfill (FAILED_PRECONDITION).
  case noBackfillRunning
  /// Rollback without a shadow upgrade (FAILED_PRECONDITION).
  case noShadowToRollBack
  /// A shadow upgrade whose index has no document version to embed raw inputs with (FAILED_PRECONDITION).
  case shadowWithoutDocumentVersion(target: String)
  /// An upsert naming a version while a shadow upgrade fixes both (FAILED_PRECONDITION).
  case shadowFixesVersions(target: String, searched: String, other: String, requested: String)
  /// An embedding of neither side of a shadow upgrade (FAILED_PRECONDITION).
  case shadowEmbeddingVersion(field: String, version: String, target: String, sides: [String])
  /// A document without raw input during a shadow upgrade that needs both sides (FAILED_PRECONDITION).
  case shadowNeedsInput(field: String, id: String, target: String, sides: [String])
  /// The index's versions changed under an upsert three times (ABORTED).
  case versionsKeptChanging

  // MARK: The service and its store

  /// A write sent to a read-only replica (FAILED_PRECONDITION).
  case readOnly(method: String)
  /// The write-ahead log refused the change; nothing was stored (UNAVAILABLE).
  case logWriteFailed(detail: String)
  /// The store cannot be reached (UNAVAILABLE).
  case storeUnavailable(detail: String)
  /// The store cannot hold this layout or runs an unsupported version (FAILED_PRECONDITION).
  case storeRefused(detail: String)
  /// A filter the store cannot evaluate on the data it holds (FAILED_PRECONDITION).
  case filterUnsupported(detail: String)
  /// The store failed or answered something malformed (INTERNAL).
  case storeFailed(detail: String)

  // MARK: Collections

  /// A request names a collection that does not exist (NOT_FOUND).
  case collectionNotFound(name: String, known: [String])
  /// The request's collection was dropped while the request ran (NOT_FOUND).
  case collectionDropped(name: String)
  /// A create names a collection that exists (ALREADY_EXISTS).
  case collectionExists(name: String)
  /// A create over the server's collection limit (RESOURCE_EXHAUSTED).
  case collectionLimit(limit: Int)
  /// A drop of the default collection (FAILED_PRECONDITION).
  case defaultCollectionPermanent
}

/// Which side of a comparison a version is on, in refusals.
public enum VersionRole: String, Sendable, Equatable {
  /// The version queries are embedded with.
  case query = "query version"
  /// The version of documents being written.
  case document = "document version"
}

extension RetrievalError {
  /// Whether the version policy refused the versions that meet: a decision the
  /// index switching versions meanwhile may change.
  public var isPolicyRefusal: Bool {
    switch self {
    case .noCertifiedQueryVersion, .notCertified, .incompatible, .queryDimensionMismatch: true
    default: false
    }
  }
}
