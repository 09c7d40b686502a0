import BCTIndex
import BCTNumerics

/// An embedding with the version that made it.
public struct VersionedVector: Sendable, Equatable {
  /// The model version.
  public var version: String
  /// The embedding.
  public var vector: [Float]

  /// An embedding of `version`.
  public init(version: String, vector: [Float]) {
    self.version = version
    self.vector = vector
  }
}

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

/// A backfill in progress: give every document an embedding of `target`.
public struct BackfillPlan: Sendable, Equatable, Codable {
  /// The version to re-embed to.
  public var target: String
  /// Documents per encoder call.
  public var batchSize: Int
  /// Documents per second at most (0: unlimited).
  public var rate: Double
  /// In place, or into the shadow copy.
  public var shadow: Bool

  /// A plan.
  public init(target: String, batchSize: Int, rate: Double, shadow: Bool = false) {
    self.target = target
    self.batchSize = batchSize
    self.rate = rate
    self.shadow = shadow
  }

  /// The rate limits a request may ask for (0, unlimited, aside).
  public static let rates: ClosedRange<Double> = 0.01...1e9
  /// The longest pause between two batches, whatever a plan read from an older log says.
  static let longestPause: Double = 86_400

  /// Documents per encoder call, within 1-4096 whatever the log held.
  var effectiveBatchSize: Int { min(max(batchSize, 1), 4096) }

  /// Seconds `count` documents may take under the rate limit (0 without one);
  /// finite and bounded for any stored rate (NaN, negative or tiny ones included).
  func pause(after count: Int) -> Double {
    guard rate > 0, rate.isFinite else { return 0 }
    return min(Double(count) / max(rate, Self.rates.lowerBound), Self.longestPause)
  }
}

/// A shadow upgrade: the target copy fills beside the searched one, then one
/// record switches searches to it; the previous copy is kept until finalized.
public struct ShadowUpgrade: Sendable, Equatable, Codable {
  /// The version documents move to.
  public var target: String
  /// Versions searched before the switch.
  public var previousVersions: [String]
  /// The document version before the switch (restored by a rollback).
  public var previousDocumentVersion: String?
  /// Seconds the previous copy is kept after the switch.
  public var graceSeconds: Double
  /// Why the upgrade is a shadow one.
  public var reason: String
  /// When searches switched to the target (seconds since 1970); nil while filling.
  public var switchedAt: Double?

  /// An upgrade that has not switched yet.
  public init(target: String, previousVersions: [String], previousDocumentVersion: String?, graceSeconds: Double, reason: String, switchedAt: Double? = nil) {
    self.target = target
    self.previousVersions = previousVersions
    self.previousDocumentVersion = previousDocumentVersion
    self.graceSeconds = graceSeconds
    self.reason = reason
    self.switchedAt = switchedAt
  }

  /// Whether searches use the target copy.
  public var switched: Bool { switchedAt != nil }
}

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
  /// version, shadow phase); not persisted. A write decided under one layout
  /// commits only if it is still current.
  public private(set) var layout = 0
  private var nextGeneration: UInt64 = 1

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

  /// The copy that holds target vectors during a shadow upgrade.
  public var targetCopy: VersionedIndex? {
    guard let shadow else { return nil }
    return shadow.switched ? index : counterpart
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
      var searched: [Mutation.Reembedded] = []
      var others: [Mutation.Reembedded] = []
      var staleCounterparts: [String] = []
      for doc in docs {
        account(removing: documents[doc.id])
        let body = DocumentBody(metadata: doc.metadata, inputShape: doc.inputShape, input: doc.input, generation: nextGeneration)
        nextGeneration += 1
        documents[doc.id] = body
        account(adding: body)
        searched.append(.init(id: doc.id, version: doc.version, vector: doc.vector))
        if shadow != nil, let other = doc.counterpart {
          others.append(.init(id: doc.id, version: other.version, vector: other.vector))
        } else if shadow != nil {
          staleCounterparts.append(doc.id)
        }
      }
      note(refused: index.upsert(grouping: searched))
      counterpart.remove(ids: staleCounterparts)
      note(refused: counterpart.upsert(grouping: others))
    case .delete(let ids):
      for id in ids { account(removing: documents.removeValue(forKey: id)) }
      index.remove(ids: ids)
      counterpart.remove(ids: ids)
    case .reembed(let items):
      note(refused: index.upsert(grouping: items.filter { documents[$0.id] != nil }))
    case .shadowEmbed(let items):
      guard let shadow, !shadow.switched else { return }
      note(refused: counterpart.upsert(grouping: items.filter { documents[$0.id] != nil && $0.version == shadow.target }))
    case .setDocumentVersion(let version):
      documentVersion = version
      layout += 1
    case .setBackfill(let plan):
      backfill = plan
    case .startShadow(let upgrade, let plan):
      shadow = upgrade
      backfill = plan
      counterpart = VersionedIndex(kind: index.kind)
      layout += 1
    case .switchShadow(let at):
      guard var upgrade = shadow, !upgrade.switched else { return }
      upgrade.switchedAt = at
      shadow = upgrade
      swap(&index, &counterpart)
      documentVersion = upgrade.target
      backfill = nil
      layout += 1
    case .rollbackShadow:
      guard let upgrade = shadow else { return }
      if upgrade.switched {
        swap(&index, &counterpart)
        documentVersion = upgrade.previousDocumentVersion
      }
      counterpart = VersionedIndex(kind: index.kind)
      shadow = nil
      backfill = nil
      layout += 1
    case .finalizeShadow:
      guard shadow?.switched == true else { return }
      counterpart = VersionedIndex(kind: index.kind)
      shadow = nil
      layout += 1
    }
  }

  /// Vectors left out while applying changes (wrong length for their version), for the log.
  public private(set) var problems: [String] = []

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
  mutating func upsert(grouping items: [Mutation.Reembedded]) -> [Mutation.Reembedded] {
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
      upsert(ids: group.map(\.id), vectors: Matrix(rows: group.count, columns: dim, values: group.flatMap(\.vector)), version: version)
    }
    return refused
  }
}
