import BCTCollection
import ServiceLifecycle

/// One served collection: its store and the domain services over it (intake,
/// search, reads, backfills), each confined to this collection's documents.
public struct HostedCollection: Sendable {
  /// Its name and index settings.
  public let descriptor: CollectionDescriptor
  /// Its documents.
  public let store: any CollectionStore
  let intake: DocumentIntake
  let searcher: Searcher
  let reader: DocumentReader
  let backfiller: Backfiller
  /// What runs beside it while it is served (store maintenance, the backfiller).
  let background: [any Service]

  /// The collection over `opened`, embedding through `encoder`.
  init(
    descriptor: CollectionDescriptor, opened: OpenedCollection, encoder: any EmbeddingProvider, limits: RetrievalLimits,
    backfiller: Backfiller, runsBackfills: Bool
  ) {
    self.descriptor = descriptor
    store = opened.store
    intake = DocumentIntake(store: opened.store, encoder: encoder, limits: limits)
    searcher = Searcher(store: opened.store, encoder: encoder, limits: limits)
    reader = DocumentReader(store: opened.store, limits: limits)
    self.backfiller = backfiller
    background = opened.background + (runsBackfills ? [backfiller] : [])
  }
}
