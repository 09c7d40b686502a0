import BCTCollection
import BCTIndex
import BCTNumerics

/// The documents, their index and the collection settings, in memory.
public struct CollectionState: Sendable {
  /// Documents without their vectors (those live in `index`).
  public private(set) var documents: [String: DocumentBody] = [:]
  /// The vectors searches use, by version.
  public private(set) var index: VersionedIndex
  /// During a shadow upgrade, the other copy: target vectors before the switch,
  /// previous vectors after it. Empty otherwise.
  public private(set) var counterpart: VersionedIndex
  /// The version raw upserts are embedded with; nil until the first one.
  public private(set) var documentVersion: String?
  /// The backfill in progress, if any.
  public private(set) var backfill: BackfillPlan?
  /// The shadow upgrade in progress, if any.
  public private(set) var shadow: ShadowUpgrade?
  /// Bytes of raw inputs and metadata kept.
  public private(set) var rawInputBytes = 0
  public private(set) var metadataBytes = 0
  /// Changes each time the versions a write must carry change (document
  /// version, shadow phase); not persisted. A write decided under one epoch
  /// commits only if it is still current.
  public private(set) var epoch = 0
  private var nextGeneration: UInt64 = 1
  /// Segments taken from graphs saved beside the snapshot at restore (not persisted).
  public private(set) var adoptedGraphs = 0
  /// Postings of metadata values, for filters.
  public private(set) var metadataIndex = MetadataIndex()
  /// Ids in listing order.
  private(set) var listing = ListingOrder()

  /// What is kept per document besides its vector.
  public struct DocumentBody: Sendable, Equatable {
    /// Metadata.
    public var metadata: [String: String]
    /// Raw input shape (empty without a raw input).
    public var inputShape: [Int]
    /// Raw input values.
    public var input: [Float]
    /// Which write made this body (in memory only): work read from one body
    /// (a backfill batch) commits only if the document was not replaced meanwhile.
    public var generation: UInt64 = 0
  }

  /// An empty collection whose version segments are indexes of `indexKind`.
  public init(indexKind: IndexKind = .flat) {
    index = VersionedIndex(kind: indexKind)
    counterpart = VersionedIndex(kind: indexKind)
  }

  /// A copy for a snapshot: the same documents and vectors (copy-on-write), no
  /// search structure shared with this state, so that encoding it may run while
  /// writes go on.
  public func detached() -> CollectionState {
    var copy = self
    copy.index = index.detached()
    copy.counterpart = counterpart.detached()
    return copy
  }

  /// The stored document `id`, with its searched vector and its counterpart.
  public func document(_ id: String) -> StoredDocument? {
    guard let body = documents[id], let version = index.version(of: id), let vector = index.vector(for: id) else { return nil }
    let other = counterpart.version(of: id).flatMap { v in counterpart.vector(for: id).map { VersionedVector(version: v, vector: $0) } }
    return StoredDocument(id: id, metadata: body.metadata, inputShape: body.inputShape, input: body.input, version: version, vector: vector, counterpart: other)
  }

  /// Applies one change.
  public mutating func apply(_ mutation: Mutation) {
    switch mutation {
    case .upsert(let docs):
      upsert(docs)
    case .delete(let ids):
      var gone: [String] = []
      for id in ids {
        guard let body = documents.removeValue(forKey: id) else { continue }
        account(removing: body)
        metadataIndex.remove(id, metadata: body.metadata)
        gone.append(id)
      }
      listing.remove(gone)
      index.remove(ids: ids)
      counterpart.remove(ids: ids)
    case .reembed(let items):
      note(refused: index.upsert(grouping: items.filter { documents[$0.id] != nil }, keys: metadataIndex))
    case .shadowEmbed(let items):
      guard let shadow, !shadow.switched else { return }
      note(refused: counterpart.upsert(grouping: items.filter { documents[$0.id] != nil && $0.version == shadow.target }, keys: metadataIndex))
    case .setDocumentVersion(let version):
      documentVersion = version
      epoch += 1
    case .setBackfill(let plan):
      backfill = plan
    case .startShadow, .switchShadow, .rollbackShadow, .finalizeShadow:
      applyShadowStep(mutation)
    }
  }

  /// Segments, by copy and version, that already hold the vectors being stored.
  struct IndexedSegments {
    var searched: Set<String> = []
    var counterpart: Set<String> = []
  }

  /// Stores documents (replacing any of the same id) with their searched vector and, during a
  /// shadow upgrade, their other copy's vector (dropping a stale one when they bring none).
  /// Vectors of `indexed` segments (adopted from saved graphs, holding exactly these) are
  /// not added again; those segments only take each document's key.
  mutating func upsert(_ docs: [StoredDocument], indexed: IndexedSegments = IndexedSegments()) {
    var searched: [Mutation.Reembedded] = []
    var others: [Mutation.Reembedded] = []
    var staleCounterparts: [String] = []
    var fresh: [String] = []
    for doc in docs {
      let previous = documents[doc.id]
      account(removing: previous)
      if previous == nil { fresh.append(doc.id) }
      metadataIndex.set(doc.id, metadata: doc.metadata, previous: previous?.metadata)
      let body = DocumentBody(metadata: doc.metadata, inputShape: doc.inputShape, input: doc.input, generation: nextGeneration)
      nextGeneration += 1
      documents[doc.id] = body
      account(adding: body)
      if !indexed.searched.contains(doc.version) { searched.append(.init(id: doc.id, version: doc.version, vector: doc.vector)) }
      if shadow != nil, let other = doc.counterpart {
        if !indexed.counterpart.contains(other.version) { others.append(.init(id: doc.id, version: other.version, vector: other.vector)) }
      } else if shadow != nil {
        staleCounterparts.append(doc.id)
      }
    }
    listing.insert(fresh)
    note(refused: index.upsert(grouping: searched, keys: metadataIndex))
    counterpart.remove(ids: staleCounterparts)
    note(refused: counterpart.upsert(grouping: others, keys: metadataIndex))
    for version in indexed.searched { index.setKeys(of: version, metadataIndex.key(of:)) }
    for version in indexed.counterpart { counterpart.setKeys(of: version, metadataIndex.key(of:)) }
  }

  /// Starts, switches, rolls back or finalizes the shadow upgrade.
  private mutating func applyShadowStep(_ mutation: Mutation) {
    switch mutation {
    case .startShadow(let upgrade, let plan):
      shadow = upgrade
      backfill = plan
      counterpart = VersionedIndex(kind: index.kind)
      epoch += 1
    case .switchShadow(let at):
      guard var upgrade = shadow, !upgrade.switched else { return }
      upgrade.switchedAt = at
      shadow = upgrade
      swap(&index, &counterpart)
      documentVersion = upgrade.target
      backfill = nil
      epoch += 1
    case .rollbackShadow:
      guard let upgrade = shadow else { return }
      if upgrade.switched {
        swap(&index, &counterpart)
        documentVersion = upgrade.previousDocumentVersion
      }
      counterpart = VersionedIndex(kind: index.kind)
      shadow = nil
      backfill = nil
      epoch += 1
    case .finalizeShadow:
      guard shadow?.switched == true else { return }
      counterpart = VersionedIndex(kind: index.kind)
      shadow = nil
      epoch += 1
    default:
      return
    }
  }

  /// Vectors left out while applying changes (wrong length for their version), for the log.
  public private(set) var problems: [String] = []

  /// Records a recovery problem (a saved graph not used, ...).
  mutating func note(problem: String) {
    problems.append(problem)
  }

  /// Takes `segment` as the searched copy's (or the counterpart's) segment of `version`.
  mutating func adopt(_ segment: any VectorIndex, version: String, counterpart inCounterpart: Bool) {
    adoptedGraphs += 1
    if inCounterpart {
      counterpart.adopt(segment, as: version)
    } else {
      index.adopt(segment, as: version)
    }
  }

  private mutating func note(refused: [Mutation.Reembedded]) {
    for item in refused.prefix(10) {
      problems.append("document \(item.id): a \(item.version) vector of \(item.vector.count) values does not match the other \(item.version) vectors; left out")
    }
  }

  private mutating func account(adding body: DocumentBody) {
    rawInputBytes += body.input.count * 4
    metadataBytes += body.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
  }

  private mutating func account(removing body: DocumentBody?) {
    guard let body else { return }
    rawInputBytes -= body.input.count * 4
    metadataBytes -= body.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
  }
}

extension VersionedIndex {
  /// Stores each item's vector under its version, one batch per version. A
  /// vector whose length differs from its version's others (a log written
  /// before writes were checked) is left out and returned, never trapped on.
  @discardableResult
  mutating func upsert(grouping items: [Mutation.Reembedded], keys: MetadataIndex) -> [Mutation.Reembedded] {
    var byVersion: [String: [Mutation.Reembedded]] = [:]
    var refused: [Mutation.Reembedded] = []
    for item in items {
      let expected = dimension(of: item.version) ?? byVersion[item.version]?.first?.vector.count ?? item.vector.count
      if item.vector.count == expected && expected > 0 {
        byVersion[item.version, default: []].append(item)
      } else {
        refused.append(item)
      }
    }
    for (version, group) in byVersion.sorted(by: { $0.key < $1.key }) {
      let dim = group[0].vector.count
      let ids = group.map(\.id)
      let found = ids.compactMap(keys.key(of:))
      upsert(
        ids: ids, vectors: Matrix(rows: group.count, columns: dim, values: group.flatMap(\.vector)), version: version,
        keys: found.count == ids.count ? found : nil)
    }
    return refused
  }
}
