import BCTIndex
import ServiceLifecycle

/// A named collection and how its version segments are indexed.
public struct CollectionDescriptor: Sendable, Equatable {
  /// Its name (`CollectionName` rules).
  public var name: String
  /// Its index kind and parameters.
  public var index: IndexKind

  /// A descriptor from its parts.
  public init(name: String, index: IndexKind) {
    self.name = name
    self.index = index
  }
}

/// A collection's store as a catalog opened it, and the work that must run beside
/// it while it is served (log maintenance, flushes on shutdown).
public struct OpenedCollection: Sendable {
  /// The documents.
  public var store: any CollectionStore
  /// Background services; cancelled when the collection is dropped.
  public var background: [any Service]

  /// An opened collection from its parts.
  public init(store: any CollectionStore, background: [any Service]) {
    self.store = store
    self.background = background
  }
}

/// Where a store kind keeps named collections, and how it makes their creation
/// and removal durable: after a crash at any point, each collection is either
/// complete or absent.
public protocol CollectionCatalog: Sendable {
  /// The named collections that exist; with `clearingLeftovers` (the writer, at start),
  /// removes what interrupted creates and drops left.
  func existing(clearingLeftovers: Bool) async throws -> [CollectionDescriptor]
  /// Opens an existing collection.
  func open(_ descriptor: CollectionDescriptor) async throws -> OpenedCollection
  /// Creates a collection (absent if this throws or the process dies first) and opens it.
  func create(_ descriptor: CollectionDescriptor) async throws -> OpenedCollection
  /// Makes a drop durable: from its return on, `existing` never lists the collection.
  func drop(_ name: String) async throws
  /// Frees what a dropped collection (its `store`) held, once its background work has stopped.
  func purge(_ name: String, store: any CollectionStore) async
  /// Why this store cannot host `descriptor` (an index kind or a name it cannot take), or nil.
  func refusal(_ descriptor: CollectionDescriptor) -> RetrievalError?
}
