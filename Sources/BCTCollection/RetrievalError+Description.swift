extension RetrievalError: CustomStringConvertible {
  /// The message a caller reads: what was refused, the figures, and what to do.
  public var description: String {
    switch self {
    case .invalidArgument(_, let message), .overLimit(_, let message):
      message
    case .replyTooLarge(let hits, let queries, let k, let bytes, let limit):
      "the reply would hold \(hits) hits (\(queries) queries x k = \(k)) taking at least \(bytes) bytes with their metadata, over the maximum of \(limit); lower k or send fewer queries per Search"
    case .unknownVersion(let field, let version, let known):
      "\(field) \"\(version)\" is not hosted by the encoder; known: \(known.joined(separator: ", "))"
    case .unknownQueryVersion(let version, let known):
      "query version \(version) is unknown: the encoder does not list it and no document has it; known: \(known.joined(separator: ", "))"
    case .documentsMissing(let ids):
      "no document with id \(ids.prefix(10).map { "\"\($0)\"" }.joined(separator: ", "))\(ids.count > 10 ? " and \(ids.count - 10) more" : ""); nothing was deleted (set allow_missing to skip them)"
    case .inputSize(let document, let values, let version, let shape):
      "document \(document)'s input has \(values) values; \(version) takes \(shape)"
    case .storedInputCorrupt(let document, let values, let shape):
      "document \(document)'s stored input (\(values) values) does not match its shape \(shape); replace the document"
    default:
      policyDescription ?? upgradeDescription ?? serviceDescription
    }
  }

  private var policyDescription: String? {
    switch self {
    case .noVersions:
      "the encoder lists no model versions"
    case .noCertifiedQueryVersion(let documents):
      "no version hosted by the encoder is certified against every document version in the index (\(documents.joined(separator: ", "))); name query_model_version with allow_uncertified, or backfill the index to one version"
    case .notCertified(let role, let version, let document, let explanation):
      "\(role.rawValue) \(version) is not certified against document version \(document) in the index — \(explanation); \(role.remedy(version))"
    case .incompatible(let role, let version, let document, let explanation):
      "\(role.rawValue) \(version) cannot be compared with document version \(document) in the index — \(explanation); use a version of that lineage, or backfill the index to \(version)"
    case .crossLineageNeedsShadow(let target, let document, let explanation):
      "target version \(target) cannot be compared with document version \(document) in the index — \(explanation); moving the index to another lineage re-embeds every document: ask for a shadow backfill (mode SHADOW) explicitly"
    case .inPlaceNotCertified(let target, let reason):
      "an in-place backfill to \(target) would mix spaces that are not certified: \(reason); use a shadow backfill (the default)"
    case .dimensionConflict(let version, let dimension, let held):
      "version \(version) now embeds in \(dimension) dimensions, but the index holds \(version) vectors of \(held); the encoder changed the version under the same name"
    case .queryDimensionMismatch(let query, let dimension, let document, let held):
      "query version \(query) embeds in \(dimension) dimensions, document version \(document) in \(held)"
    default:
      nil
    }
  }

  private var upgradeDescription: String? {
    switch self {
    case .shadowInProgress(let target, let switched):
      "a shadow upgrade to \(target) is in progress; roll it back\(switched ? " or finalize it" : "") first"
    case .alreadySwitched(let target):
      "the index already switched to \(target) (shadow upgrade in its grace period); finalize it or roll it back"
    case .backfillRunning(let target):
      "a backfill to \(target) is running; stop it first or wait for it"
    case .inputsMissing(let target, let documents):
      "a shadow backfill to \(target) re-embeds every document, and \(documents) have no raw input (stored as embeddings only); re-upsert them with their input or delete them first"
    case .transformNeedsOneSource(let target, let searched):
      "a transform backfill to \(target) moves the documents of one version by its document transform; the index searches \(searched.isEmpty ? "no documents" : searched.joined(separator: ", ")). Move them to one version first"
    case .externalVersion(let field, let version):
      "\(field): \(version) is an external version: its embeddings are computed outside bct, so raw inputs cannot be embedded with it; send its embeddings instead"
    case .transformNotCertified(let target, let source):
      "the encoder lists no certified, usable document transform from \(source) to \(target); fit one with bct adapt --old <\(source)> --new <\(target)> (its certificate must pass), or backfill by re-embedding"
    case .transformUncertified(let target, let source):
      "the document transform from \(source) to \(target) is usable but NOT certified (bct models shows why); set allow_uncertified (bct backfill --transform --allow-uncertified) to move into a shadow copy you can roll back within the grace period, or backfill by re-embedding"
    case .uncertifiedTransformInPlace(let target, let source):
      "the document transform from \(source) to \(target) is NOT certified, so it moves only into a shadow copy (searches keep \(source) until the switch); leave mode AUTO or SHADOW"
    case .transformSourceMismatch(let document, let version, let source):
      "document \(document) is of version \(version), not \(source): the transform cannot move it; roll the upgrade back, re-upsert or delete it"
    case .noShadowToFinalize:
      "no shadow upgrade to finalize"
    case .notSwitched(let target, let done, let total):
      "the shadow upgrade to \(target) has not switched yet (\(done)/\(total) documents have their \(target) embedding); wait for it or roll it back"
    case .noBackfillRunning:
      "no backfill is running"
    case .noShadowToRollBack:
      "no shadow upgrade to roll back (an in-place backfill is undone by a backfill back to the old version)"
    case .shadowWithoutDocumentVersion(let target):
      "a shadow upgrade to \(target) is in progress and the index has no document version to embed with; finish or roll it back first"
    case .shadowFixesVersions(let target, let searched, let other, let requested):
      "a shadow upgrade to \(target) is in progress: raw inputs are embedded with \(searched) and \(other), not \(requested); leave model_version empty"
    case .shadowEmbeddingVersion(let field, let version, let target, let sides):
      "\(field) is of \(version); while the shadow upgrade to \(target) is in progress documents carry \(sides.joined(separator: " and ")) embeddings (send the raw input)"
    case .shadowNeedsInput(let field, let id, let target, let sides):
      "\(field) (\(id)) has no raw input; while the shadow upgrade to \(target) is in progress every document needs one so that both \(sides.joined(separator: " and ")) embed it"
    case .versionsKeptChanging:
      "the index's versions changed three times while this upsert was being embedded (a backfill switching?); retry it"
    default:
      nil
    }
  }

  private var serviceDescription: String {
    switch self {
    case .readOnly(let method):
      "this bct-retrieval is a read-only replica (--read-only); send \(method) to the writer replica of the catalogue"
    case .logWriteFailed(let detail):
      "the change could not be written to the write-ahead log (\(detail)); it was not stored"
    case .storeUnavailable(let detail), .storeRefused(let detail), .storeFailed(let detail), .filterUnsupported(let detail):
      detail
    case .collectionNotFound(let name, let known):
      "no collection \"\(name)\"; collections: \(known.prefix(20).joined(separator: ", "))\(known.count > 20 ? " and \(known.count - 20) more" : "") (CreateCollection makes one)"
    case .collectionDropped(let name):
      "collection \"\(name)\" was dropped while this request ran"
    case .collectionExists(let name):
      "collection \"\(name)\" already exists"
    case .collectionLimit(let limit):
      "this server holds its maximum of \(limit) named collections (--max-collections); drop one first"
    case .defaultCollectionPermanent:
      "the default collection cannot be dropped; delete its documents instead"
    default:
      "retrieval error"
    }
  }
}

extension VersionRole {
  /// What a caller refused for `version` on this side can do instead.
  func remedy(_ version: String) -> String {
    switch self {
    case .query:
      "query with a certified version, set allow_uncertified to compare anyway, or backfill the index to \(version) (a shadow backfill keeps searches on the current version until it switches)"
    case .document:
      "upsert with a version certified against them, set allow_uncertified, or backfill the index to \(version) first"
    }
  }
}
