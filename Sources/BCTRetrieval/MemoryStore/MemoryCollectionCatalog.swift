import BCTCollection
import BCTServing
import BCTStorage
import Foundation
import Logging

/// Named collections of the memory store: `collections/NAME/` under the data
/// directory, each with its own write-ahead log, snapshots and `collection.json`
/// (its index settings). The default collection stays in the data directory itself.
///
/// A create fills `collections/.creating-NAME-UUID/` and renames it into place; a
/// drop renames the folder to `collections/.dropped-NAME-UUID/` before it is
/// acknowledged and removes the files after. Both renames are fsynced, so after a
/// crash a collection is whole or absent; `existing` clears the leftovers.
public struct MemoryCollectionCatalog: CollectionCatalog {
  private let root: URL
  private let policy: DurableLog.SyncPolicy
  private let snapshotInterval: Duration
  private let snapshotChanges: Int
  private let health: HealthStatusStore?
  private let logger: Logger
  static let settingsFile = "collection.json"

  /// The catalog under `dataDirectory`; its stores log under `policy` and snapshot
  /// every `snapshotInterval` or `snapshotChanges` changes.
  public init(
    dataDirectory: URL, policy: DurableLog.SyncPolicy, snapshotInterval: Duration, snapshotChanges: Int,
    health: HealthStatusStore?, logger: Logger
  ) {
    root = dataDirectory.appendingPathComponent("collections", isDirectory: true)
    self.policy = policy
    self.snapshotInterval = snapshotInterval
    self.snapshotChanges = snapshotChanges
    self.health = health
    self.logger = logger
  }

  public func existing(clearingLeftovers: Bool) async throws -> [CollectionDescriptor] {
    guard FileManager.default.fileExists(atPath: root.path) else { return [] }
    var found: [CollectionDescriptor] = []
    for entry in try FileManager.default.contentsOfDirectory(atPath: root.path).sorted() {
      let folder = root.appendingPathComponent(entry, isDirectory: true)
      if entry.hasPrefix(".creating-") || entry.hasPrefix(".dropped-") {
        guard clearingLeftovers else { continue }
        logger.info("removing an interrupted collection create or drop", metadata: ["folder": "\(entry)"])
        try? FileManager.default.removeItem(at: folder)
        continue
      }
      guard CollectionName.isWellFormed(entry) else {
        logger.warning("ignoring a folder that is not a collection", metadata: ["folder": "\(folder.path)"])
        continue
      }
      let settings = try Data(contentsOf: folder.appendingPathComponent(Self.settingsFile))
      do {
        found.append(CollectionDescriptor(name: entry, index: try IndexSettingsRecord.decode(settings).indexKind()))
      } catch {
        throw StorageError("collection \(entry): \(Self.settingsFile) \(error)")
      }
    }
    return found
  }

  public func open(_ descriptor: CollectionDescriptor) async throws -> OpenedCollection {
    let logger = logger.with("collection", descriptor.name)
    let folder = root.appendingPathComponent(descriptor.name, isDirectory: true)
    return serving(try DocumentStore(directory: folder, policy: policy, indexKind: descriptor.index, logger: logger), logger: logger)
  }

  /// `store` with the maintenance it needs while served (the default collection's too).
  public func serving(_ store: DocumentStore, logger: Logger) -> OpenedCollection {
    let maintenance = StoreMaintenance(store: store, interval: snapshotInterval, changes: snapshotChanges, health: health, logger: logger)
    return OpenedCollection(store: store, background: [maintenance])
  }

  public func create(_ descriptor: CollectionDescriptor) async throws -> OpenedCollection {
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    let staging = root.appendingPathComponent(".creating-\(descriptor.name)-\(UUID().uuidString)", isDirectory: true)
    do {
      try FileManager.default.createDirectory(at: staging, withIntermediateDirectories: false)
      try DurableFiles.write(IndexSettingsRecord(descriptor.index).encoded(), to: staging.appendingPathComponent(Self.settingsFile))
      try DurableFiles.syncDirectory(staging)
      try DurableFiles.rename(staging, to: root.appendingPathComponent(descriptor.name, isDirectory: true))
    } catch {
      try? FileManager.default.removeItem(at: staging)
      throw RetrievalError.storeFailed(detail: "cannot create collection \(descriptor.name): \(error)")
    }
    return try await open(descriptor)
  }

  public func drop(_ name: String) async throws {
    let folder = root.appendingPathComponent(name, isDirectory: true)
    do {
      try DurableFiles.rename(folder, to: root.appendingPathComponent(".dropped-\(name)-\(UUID().uuidString)", isDirectory: true))
    } catch {
      throw RetrievalError.storeFailed(detail: "cannot drop collection \(name): \(error)")
    }
  }

  public func purge(_ name: String, store: any CollectionStore) async {
    let prefix = ".dropped-\(name)-"
    for entry in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] where entry.hasPrefix(prefix) {
      do {
        try FileManager.default.removeItem(at: root.appendingPathComponent(entry, isDirectory: true))
      } catch {
        logger.warning("cannot remove a dropped collection's files; the next start retries", metadata: ["folder": "\(entry)", "error": "\(error)"])
      }
    }
  }

  public func refusal(_ descriptor: CollectionDescriptor) -> RetrievalError? { nil }
}
