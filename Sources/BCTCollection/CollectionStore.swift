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

  /// The `k` best hits per query in the searched copy (every version it holds)
  /// among the documents `filter` lets through (all without one), with each hit's
  /// metadata. `check` sees the view the ranking reads and throws to refuse (a query
  /// version the policy does not allow against the versions held).
  func search(
    _ queries: Matrix, k: Int, options: SearchOptions, filter: MetadataFilter?, check: (CollectionView) throws -> Void
  ) async throws -> StoreHits

  /// Up to `limit` documents that `filter` lets through, in increasing id order
  /// (bytes of UTF-8) after `cursor` (from the first without one); with `vectors`
  /// false, a store may leave the searched vector and the raw input empty
  /// (`StoredDocument.input` stays empty for every document that has none).
  func list(after cursor: String?, limit: Int, filter: MetadataFilter?, vectors: Bool) async throws -> [StoredDocument]

  /// The stored documents with these ids (absent ids are skipped), each with the
  /// generation of its body.
  func documents(_ ids: [String]) async throws -> [(document: StoredDocument, generation: UInt64)]

  /// As `documents(_:)`; without `vectors` a store may leave out each document's
  /// vector, input and counterpart (its `inputShape` still says whether an input is kept).
  func documents(_ ids: [String], vectors: Bool) async throws -> [(document: StoredDocument, generation: UInt64)]

  /// Up to `limit` ids of documents that still need a vector of the plan's target,
  /// leaving out `skipping`.
  func pendingIDs(_ plan: BackfillPlan, skipping: Set<String>, limit: Int) async throws -> [String]

  /// Sizes and index parameters for Stats.
  func statistics() async throws -> StoreStatistics
}

extension CollectionStore {
  /// Every document with its vectors (stores that hold them in memory lose nothing by it).
  public func documents(_ ids: [String], vectors: Bool) async throws -> [(document: StoredDocument, generation: UInt64)] {
    try await documents(ids)
  }

  /// The `k` best hits per query, unfiltered (see `search(_:k:options:filter:check:)`).
  public func search(
    _ queries: Matrix, k: Int, options: SearchOptions, check: (CollectionView) throws -> Void
  ) async throws -> StoreHits {
    try await search(queries, k: k, options: options, filter: nil, check: check)
  }

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
