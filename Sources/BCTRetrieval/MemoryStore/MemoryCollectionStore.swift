import BCTCollection
import BCTIndex
import BCTNumerics

/// The in-memory store: `DocumentStore` answers the store interface from its
/// `CollectionState`, deciding under its writer lock.
extension DocumentStore: CollectionStore {
  public func view(_ query: ViewQuery) async throws -> CollectionView {
    read { $0.view(query) }
  }

  public func commit<Result: Sendable>(
    reading query: ViewQuery, deciding decide: (CollectionView) throws -> (mutations: [Mutation], result: Result)
  ) async throws -> (sequence: UInt64, result: Result) {
    var result: Result?
    let sequence = try commit(deciding: { state -> [Mutation] in
      let decided = try decide(state.view(query))
      result = decided.result
      return decided.mutations
    })
    return (sequence, result!)
  }

  public func search(
    _ queries: Matrix, k: Int, options: SearchOptions, filter: MetadataFilter?, check: (CollectionView) throws -> Void
  ) async throws -> StoreHits {
    try read { state in
      let view = state.view(ViewQuery())
      try check(view)
      let allowed = filter.flatMap { state.metadataIndex.idFilter($0) }
      let hits = state.index.search(queries, k: k, versions: view.searched, options: options, filter: allowed)
      var metadata: [String: [String: String]] = [:]
      for hit in hits.joined() { metadata[hit.scored.id] = state.documents[hit.scored.id]?.metadata ?? [:] }
      return StoreHits(present: view.searched, hits: hits, metadata: metadata)
    }
  }

  public func documents(_ ids: [String]) async throws -> [(document: StoredDocument, generation: UInt64)] {
    read { state in
      ids.compactMap { id in
        guard let document = state.document(id), let body = state.documents[id] else { return nil }
        return (document, body.generation)
      }
    }
  }

  public func list(after cursor: String?, limit: Int, filter: MetadataFilter?, vectors: Bool) async throws -> [StoredDocument] {
    read { state in
      let bits = filter.map { state.metadataIndex.evaluate($0) }
      let ids = state.listing.page(after: cursor, limit: limit) { id in
        bits.map { state.metadataIndex.passes(id, $0) } ?? true
      }
      return ids.compactMap { state.document($0) }
    }
  }

  public func pendingIDs(_ plan: BackfillPlan, skipping: Set<String>, limit: Int) async throws -> [String] {
    read { state in
      if plan.shadow {
        guard let upgrade = state.shadow, !upgrade.switched, upgrade.target == plan.target else { return [] }
      }
      // Each searched vector is a document's, read by version, so only a shadow plan looks anything up
      // (whether the other copy holds the target vector already).
      return Array(UpgradeRules.sourceVersions(plan, searched: state.index.versions).lazy
        .flatMap { version in state.index.ids(of: version).lazy.map { (version: version, id: $0) } }
        .filter { document in
          !skipping.contains(document.id) && UpgradeRules.needsTarget(
            version: document.version, counterpart: plan.shadow ? state.counterpart.version(of: document.id) : nil, plan: plan)
        }
        .map(\.id).prefix(limit))
    }
  }

  public func statistics() async throws -> StoreStatistics {
    let sequence = self.sequence
    return read { state in
      var segments: [String: IndexDescription] = [:]
      for version in state.index.versions { segments[version] = state.index.description(of: version) }
      let kind = switch state.index.kind {
      case .flat: "flat-ip (exact inner product, OpenBLAS)"
      case .hnsw: "\(state.index.kind.name) (approximate inner product, hnswlib)"
      case .quantized: "\(state.index.kind.name) (compressed scan, exact re-rank of its candidates)"
      }
      return StoreStatistics(
        indexKind: kind, segments: segments, rawInputBytes: state.rawInputBytes,
        metadataBytes: state.metadataBytes + state.documents.keys.reduce(0) { $0 + $1.utf8.count }, sequence: sequence)
    }
  }
}

extension CollectionState {
  /// The view decisions read, with the facts `query` asks for.
  public func view(_ query: ViewQuery) -> CollectionView {
    var dimensions: [String: Int] = [:]
    for copy in [counterpart, index] {
      for version in copy.versions { dimensions[version] = copy.dimension(of: version) }
    }
    var facts: [String: DocumentFacts] = [:]
    for id in query.ids {
      guard let body = documents[id] else { continue }
      facts[id] = DocumentFacts(
        version: index.version(of: id) ?? "", counterpart: counterpart.version(of: id), generation: body.generation,
        hasInput: !body.input.isEmpty)
    }
    var withoutInput = 0
    if let outside = query.withoutInputOutside {
      // Counted in place: a filtered copy of a large catalogue cost more than the backfill it reports on.
      for (id, body) in documents where body.input.isEmpty && (outside.isEmpty || index.version(of: id) != outside) {
        withoutInput += 1
      }
    }
    let pending = query.pendingFor.map { plan in documents.keys.contains { needs($0, plan) } } ?? false
    return CollectionView(
      epoch: epoch, documentVersion: documentVersion, backfill: backfill, shadow: shadow, searched: index.versions,
      dimensions: dimensions, searchedCounts: index.countsByVersion, otherCounts: counterpart.countsByVersion,
      documentCount: documents.count, searchedBytes: index.vectorBytes, otherBytes: counterpart.vectorBytes,
      documents: facts, withoutInput: withoutInput, pending: pending)
  }

  /// Whether document `id` still needs a vector of the plan's target.
  func needs(_ id: String, _ plan: BackfillPlan) -> Bool {
    UpgradeRules.needsTarget(version: index.version(of: id), counterpart: counterpart.version(of: id), plan: plan)
  }
}
