/// The collection at one instant, as decisions read it.
public struct CollectionView: Sendable, Equatable {
  /// Changes each time the versions a write must carry change (document version, shadow phase).
  public var epoch: Int
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
    epoch: Int, documentVersion: String?, backfill: BackfillPlan?, shadow: ShadowUpgrade?, searched: [String],
    dimensions: [String: Int], searchedCounts: [String: Int] = [:], otherCounts: [String: Int] = [:], documentCount: Int = 0,
    searchedBytes: Int = 0, otherBytes: Int = 0, documents: [String: DocumentFacts] = [:], withoutInput: Int = 0, pending: Bool = false
  ) {
    self.epoch = epoch
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

  /// Refuses a write whose vector length differs from what the collection already
  /// holds for its version (the encoder changed a version's embedding size under the same name).
  public func checkDimensions(_ vectors: [VersionedVector]) throws(RetrievalError) {
    for vector in vectors {
      if let held = dimensions[vector.version], held != vector.vector.count {
        throw .dimensionConflict(version: vector.version, dimension: vector.vector.count, held: held)
      }
    }
  }
}
