import BCTIndex
import BCTNumerics

/// Where a collection lives: the retrieval service's searches, writes, backfills and
/// reports go through this interface, so the version policy, certificates, query
/// routing and upgrades behave the same over every store. `DocumentStore` keeps the
/// collection in memory with a write-ahead log; `MilvusCollectionStore` (module
/// `BCTMilvusStore`) keeps it in Milvus.
///
/// Writes are `Mutation`s decided on a `CollectionView` read with every other writer
/// of the store excluded, so a check and the change it allows are one step.
public protocol CollectionStore: Sendable {
  /// The collection as it is now, with the facts `query` asks for.
  func view(_ query: ViewQuery) async throws -> CollectionView

  /// Applies the mutations `decide` returns for the collection as it is now, with
  /// every other writer excluded from the read to the write; returns the sequence
  /// number of the last change and what `decide` returned beside the mutations.
  /// `decide` throws to refuse, and nothing is written then.
  func commit<Result: Sendable>(
    reading query: ViewQuery, deciding decide: (CollectionView) throws -> (mutations: [Mutation], result: Result)
  ) async throws -> (sequence: UInt64, result: Result)

  /// The `k` best hits per query in the searched copy (every version it holds),
  /// with each hit's metadata. `check` sees the view the ranking reads and throws to
  /// refuse (a query version the policy does not allow against the versions held).
  func search(
    _ queries: Matrix, k: Int, options: SearchOptions, check: (CollectionView) throws -> Void
  ) async throws -> StoreHits

  /// The stored documents with these ids (absent ids are skipped), each with the
  /// generation of its body.
  func documents(_ ids: [String]) async throws -> [(document: StoredDocument, generation: UInt64)]

  /// Up to `limit` ids of documents that still need a vector of the plan's target,
  /// leaving out `skipping`.
  func pendingIDs(_ plan: BackfillPlan, skipping: Set<String>, limit: Int) async throws -> [String]

  /// Sizes and index parameters for Stats.
  func statistics() async throws -> StoreStatistics
}

extension CollectionStore {
  /// Applies the mutations `decide` returns (see `commit(reading:deciding:)`).
  @discardableResult
  public func commit(reading query: ViewQuery = ViewQuery(), deciding decide: (CollectionView) throws -> [Mutation]) async throws -> UInt64 {
    try await commit(reading: query) { view in (try decide(view), ()) }.sequence
  }

  /// Applies `mutation`.
  @discardableResult
  public func commit(_ mutation: Mutation) async throws -> UInt64 {
    try await commit { _ in [mutation] }
  }
}

/// What a view should read beyond the collection's settings and counts.
public struct ViewQuery: Sendable, Equatable {
  /// Documents whose facts to read.
  public var ids: [String]
  /// Count the documents without a raw input whose searched vector is not of this
  /// version ("" counts every document without one).
  public var withoutInputOutside: String?
  /// Find whether some document still needs a vector of this plan's target.
  public var pendingFor: BackfillPlan?
  /// Count documents and bytes per version and copy (Stats, progress); without it a
  /// store may leave the counts empty (`searched` and `dimensions` are always read).
  public var sizes: Bool

  /// A query.
  public init(ids: [String] = [], withoutInputOutside: String? = nil, pendingFor: BackfillPlan? = nil, sizes: Bool = false) {
    self.ids = ids
    self.withoutInputOutside = withoutInputOutside
    self.pendingFor = pendingFor
    self.sizes = sizes
  }
}

/// What is known of one stored document without reading its vectors or input.
public struct DocumentFacts: Sendable, Equatable {
  /// The version of its searched vector.
  public var version: String
  /// The version of its other vector during a shadow upgrade.
  public var counterpart: String?
  /// Which write made its body: work read from one body commits only if it is unchanged.
  public var generation: UInt64
  /// Whether it keeps a raw input.
  public var hasInput: Bool

  /// Facts of a document.
  public init(version: String, counterpart: String?, generation: UInt64, hasInput: Bool) {
    self.version = version
    self.counterpart = counterpart
    self.generation = generation
    self.hasInput = hasInput
  }
}

/// The collection at one instant, as decisions read it.
public struct CollectionView: Sendable, Equatable {
  /// Changes each time the versions a write must carry change (document version, shadow phase).
  public var layout: Int
  /// The version raw upserts are embedded with; nil until the first one.
  public var documentVersion: String?
  /// The backfill in progress.
  public var backfill: BackfillPlan?
  /// The shadow upgrade in progress.
  public var shadow: ShadowUpgrade?
  /// Versions of the searched copy that hold documents, sorted.
  public var searched: [String]
  /// Embedding dimension per version held in either copy.
  public var dimensions: [String: Int]
  /// With `ViewQuery.sizes`: documents per version in the searched copy (versions
  /// holding none are absent) and in the other copy of a shadow upgrade, documents
  /// stored, bytes of each copy's vectors.
  public var searchedCounts: [String: Int]
  public var otherCounts: [String: Int]
  public var documentCount: Int
  public var searchedBytes: Int
  public var otherBytes: Int
  /// Facts of the documents asked for that exist.
  public var documents: [String: DocumentFacts]
  /// The count `ViewQuery.withoutInputOutside` asked for (0 when not asked).
  public var withoutInput: Int
  /// Whether a document still needs the `ViewQuery.pendingFor` target (false when not asked).
  public var pending: Bool

  /// A view.
  public init(
    layout: Int, documentVersion: String?, backfill: BackfillPlan?, shadow: ShadowUpgrade?, searched: [String],
    dimensions: [String: Int], searchedCounts: [String: Int] = [:], otherCounts: [String: Int] = [:], documentCount: Int = 0,
    searchedBytes: Int = 0, otherBytes: Int = 0, documents: [String: DocumentFacts] = [:], withoutInput: Int = 0, pending: Bool = false
  ) {
    self.layout = layout
    self.documentVersion = documentVersion
    self.backfill = backfill
    self.shadow = shadow
    self.searched = searched
    self.searchedCounts = searchedCounts
    self.otherCounts = otherCounts
    self.dimensions = dimensions
    self.documentCount = documentCount
    self.searchedBytes = searchedBytes
    self.otherBytes = otherBytes
    self.documents = documents
    self.withoutInput = withoutInput
    self.pending = pending
  }

  /// With `ViewQuery.sizes`: documents in the copy that holds target vectors during a shadow upgrade.
  public var targetCopyCount: Int {
    guard let shadow else { return 0 }
    return (shadow.switched ? searchedCounts : otherCounts).values.reduce(0, +)
  }

  /// Why a write with these vectors cannot be applied: a vector whose length
  /// differs from what the collection already holds for its version (the
  /// encoder changed a version's embedding size under the same name).
  public func dimensionConflict(_ vectors: [VersionedVector]) -> String? {
    for vector in vectors {
      if let held = dimensions[vector.version], held != vector.vector.count {
        return "version \(vector.version) now embeds in \(vector.vector.count) dimensions, but the index holds \(vector.version) vectors of \(held); the encoder changed the version under the same name"
      }
    }
    return nil
  }
}

/// What a search found.
extension VersionedIndex.Hit {
  /// Bytes this hit takes in a Search reply: id, version, score and framing,
  /// plus its metadata (map entries cost a few bytes of framing each).
  public func replyBytes(metadata: [String: String]?) -> Int {
    scored.id.utf8.count + version.utf8.count + 16 + Self.replyBytes(of: metadata ?? [:])
  }

  /// Bytes a hit's metadata takes in a Search reply.
  public static func replyBytes(of metadata: [String: String]) -> Int {
    metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 }
  }
}

/// A Search reply over the caller's size limit (RESOURCE_EXHAUSTED at the edge).
public struct ReplyTooLarge: Error, Sendable, Equatable {
  /// Hits in the reply.
  public var hits: Int
  /// Bytes counted when the limit was passed (a lower bound of the whole).
  public var bytes: Int
  /// The limit.
  public var limit: Int

  /// A reply of `hits` hits, at least `bytes` bytes, over `limit`.
  public init(hits: Int, bytes: Int, limit: Int) {
    self.hits = hits
    self.bytes = bytes
    self.limit = limit
  }
}

public struct StoreHits: Sendable {
  /// The versions searched.
  public var present: [String]
  /// Per query, the best hits first.
  public var hits: [[VersionedIndex.Hit]]
  /// Metadata of every hit's document.
  public var metadata: [String: [String: String]]

  /// Search results.
  public init(present: [String], hits: [[VersionedIndex.Hit]], metadata: [String: [String: String]]) {
    self.present = present
    self.hits = hits
    self.metadata = metadata
  }
}

/// A store's sizes for Stats.
public struct StoreStatistics: Sendable {
  /// What searches run on, in words (e.g. "flat-ip (exact inner product, OpenBLAS)").
  public var indexKind: String
  /// Index parameters and size per searched version.
  public var segments: [String: IndexDescription]
  /// Bytes of raw inputs kept.
  public var rawInputBytes: Int
  /// Bytes of metadata and ids kept.
  public var metadataBytes: Int
  /// The sequence number of the last change.
  public var sequence: UInt64

  /// Statistics.
  public init(indexKind: String, segments: [String: IndexDescription], rawInputBytes: Int, metadataBytes: Int, sequence: UInt64) {
    self.indexKind = indexKind
    self.segments = segments
    self.rawInputBytes = rawInputBytes
    self.metadataBytes = metadataBytes
    self.sequence = sequence
  }
}
