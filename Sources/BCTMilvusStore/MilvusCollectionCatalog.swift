import BCTCollection
import BCTIndex
import BCTMilvus
import Foundation
import Logging

/// Named collections of the Milvus store. Collection NAME lives under the prefix
/// `BASE_cLEN_NAME` (LEN: NAME's length, so no two names' prefixes nest), beside the
/// default collection at `BASE` itself. It exists exactly while the state collection
/// under its prefix holds its descriptor record: a create writes the record last, a
/// drop deletes it first (then drops the Milvus collections), so after a crash it
/// is whole or absent, and the writer's next start drops what is left of it.
public struct MilvusCollectionCatalog: CollectionCatalog {
  private let client: MilvusClient
  private let base: MilvusLocation
  private let defaultHNSW: HNSWParameters
  private let inputSize: @Sendable (String) -> Int?
  private let logger: Logger
  /// Longest prefix that leaves room for version collection names within Milvus's 255 characters.
  static let maxPrefixLength = 110

  /// The catalog beside the default collection at `base`.
  public init(
    client: MilvusClient, base: MilvusLocation, defaultHNSW: HNSWParameters, inputSize: @escaping @Sendable (String) -> Int?,
    logger: Logger
  ) {
    self.client = client
    self.base = base
    self.defaultHNSW = defaultHNSW
    self.inputSize = inputSize
    self.logger = logger
  }

  /// Where collection `name` lives.
  func location(of name: String) -> MilvusLocation {
    base.nested("c\(name.utf8.count)_\(name)")
  }

  public func existing(clearingLeftovers: Bool) async throws -> [CollectionDescriptor] {
    var found: [CollectionDescriptor] = []
    for name in try await client.collectionNames().compactMap(collectionName(ofState:)).sorted() {
      let store = self.store(name, hnsw: defaultHNSW)
      // A create stopped before its state collection had its index cannot have written
      // the record (and Milvus refuses to load such a collection to read it).
      let indexed = try await client.hasIndex(location(of: name).stateCollection, field: MilvusDocumentCollection.embeddingField)
      guard indexed, let record = try await store.readDescriptor() else {
        guard clearingLeftovers else { continue }
        logger.info("dropping what an interrupted collection create or drop left", metadata: ["collection": "\(name)"])
        try await store.dropEverything()
        continue
      }
      do {
        found.append(CollectionDescriptor(name: name, index: try IndexSettingsRecord.decode(record).indexKind()))
      } catch {
        throw RetrievalError.storeFailed(detail: "collection \(name): its descriptor record \(error)")
      }
    }
    return found
  }

  /// The collection name a state collection belongs to, if it is one of this catalog's.
  private func collectionName(ofState milvusName: String) -> String? {
    let head = "\(base.prefix)_c"
    let tail = "_state"
    guard milvusName.hasPrefix(head), milvusName.hasSuffix(tail), milvusName.count > head.count + tail.count else { return nil }
    let middle = milvusName.dropFirst(head.count).dropLast(tail.count)
    guard let separator = middle.firstIndex(of: "_"), let length = Int(middle[..<separator]) else { return nil }
    let name = String(middle[middle.index(after: separator)...])
    guard name.utf8.count == length, CollectionName.isWellFormed(name), name != CollectionName.defaultName else { return nil }
    return name
  }

  public func open(_ descriptor: CollectionDescriptor) async throws -> OpenedCollection {
    guard case .hnsw(let parameters) = descriptor.index else {
      throw RetrievalError.storeRefused(detail: "collection \(descriptor.name) is not indexed with HNSW")
    }
    let store = self.store(descriptor.name, hnsw: parameters)
    try await store.open()
    return serving(store)
  }

  /// `store` with the flush it needs on shutdown (the default collection's too).
  public func serving(_ store: MilvusCollectionStore) -> OpenedCollection {
    OpenedCollection(store: store, background: [MilvusStoreFlush(store: store, logger: logger)])
  }

  public func create(_ descriptor: CollectionDescriptor) async throws -> OpenedCollection {
    do {
      // Whatever an earlier instance of this name left (a failed purge) goes first.
      try await store(descriptor.name, hnsw: defaultHNSW).dropEverything()
      let opened = try await open(descriptor)
      try await (opened.store as? MilvusCollectionStore)?.writeDescriptor(IndexSettingsRecord(descriptor.index).encoded())
      return opened
    } catch {
      throw MilvusCollectionStore.status(error)
    }
  }

  public func drop(_ name: String) async throws {
    do {
      try await client.delete(location(of: name).stateCollection, ids: [MilvusCollectionStore.descriptorID])
    } catch {
      throw MilvusCollectionStore.status(error)
    }
  }

  public func purge(_ name: String, store: any CollectionStore) async {
    do {
      try await ((store as? MilvusCollectionStore) ?? self.store(name, hnsw: defaultHNSW)).dropEverything()
    } catch {
      logger.warning("cannot drop a dropped collection's Milvus collections; the writer's next start retries", metadata: [
        "collection": "\(name)", "error": "\(error)"])
    }
  }

  public func refusal(_ descriptor: CollectionDescriptor) -> RetrievalError? {
    guard case .hnsw = descriptor.index else {
      return .invalidArgument(
        field: "index.kind", message: "the Milvus store indexes every version with HNSW; KIND_FLAT, KIND_FLAT_SQ8 and KIND_FLAT_F16 are not available there")
    }
    let prefix = location(of: descriptor.name).prefix
    guard prefix.count <= Self.maxPrefixLength else {
      return .invalidArgument(
        field: "name",
        message: "name is too long for this Milvus prefix: collection names may have at most \(Self.maxPrefixLength - prefix.count + descriptor.name.count) characters here")
    }
    return nil
  }

  private func store(_ name: String, hnsw: HNSWParameters) -> MilvusCollectionStore {
    MilvusCollectionStore(
      client: client, location: location(of: name), hnsw: hnsw, inputSize: inputSize, logger: logger)
  }
}
