import BCTCollection
import BCTIndex
import BCTRuntime
import Logging
import ServiceLifecycle
import Synchronization

/// The collections one bct-retrieval serves: the default one and the named ones a
/// `CollectionCatalog` keeps. Requests resolve their collection here; creates and
/// drops run one at a time. As a service, it runs each collection's background
/// work (store maintenance, backfills) as child tasks, and stops a dropped
/// collection's before its files go.
public final class CollectionRegistry: Service, Sendable {
  /// Limits and defaults of the collections this process serves.
  public struct Settings: Sendable {
    /// Named collections at most (the default one not counted).
    public var maxCollections = 100
    /// Bytes of a collection name at most.
    public var maxNameLength = 64
    /// The index of a collection created without settings, and of the default one.
    public var defaultIndex: IndexKind = .flat
    /// Seconds a switched shadow upgrade keeps its previous copy by default.
    public var shadowGraceSeconds = 86_400.0
    /// A read-only replica: runs no backfill, creates and drops nothing, and looks
    /// for collections another process created when a request names an unknown one.
    public var readOnly = false

    /// The defaults.
    public init() {}
  }

  private struct Entry: Sendable {
    var collection: HostedCollection
    let stop = OneShotSignal()
    let stopped = OneShotSignal()
  }

  private let catalog: any CollectionCatalog
  private let encoder: any EmbeddingProvider
  private let limits: RetrievalLimits
  private let settings: Settings
  private let logger: Logger
  private let entries = Mutex<[String: Entry]>([:])
  private let lifecycle = AsyncMutex()
  private let lastDiscovery = Mutex<ContinuousClock.Instant?>(nil)
  private let starts: AsyncStream<Entry>
  private let startsContinuation: AsyncStream<Entry>.Continuation

  /// The registry serving `defaultCollection` (in the data directory or at the Milvus
  /// location itself) and the named collections of `catalog` once `openExisting` ran.
  public init(
    defaultCollection: OpenedCollection, catalog: any CollectionCatalog, encoder: any EmbeddingProvider, limits: RetrievalLimits,
    settings: Settings, logger: Logger
  ) {
    self.catalog = catalog
    self.encoder = encoder
    self.limits = limits
    self.settings = settings
    self.logger = logger
    (starts, startsContinuation) = AsyncStream.makeStream()
    host(CollectionDescriptor(name: CollectionName.defaultName, index: settings.defaultIndex), defaultCollection)
  }

  /// Opens every named collection the catalog holds (clearing interrupted creates and drops).
  public func openExisting() async throws {
    for descriptor in try await catalog.existing(clearingLeftovers: !settings.readOnly) {
      host(descriptor, try await catalog.open(descriptor))
    }
  }

  /// The collection a request names (empty: the default one); NOT_FOUND when none has that name.
  public func collection(_ requested: String) async throws -> HostedCollection {
    let name = CollectionName.resolved(requested)
    if let entry = entries.withLock({ $0[name] }) { return entry.collection }
    if settings.readOnly, await discover(), let entry = entries.withLock({ $0[name] }) { return entry.collection }
    throw RetrievalError.collectionNotFound(name: String(name.prefix(80)), known: names)
  }

  /// The index of the default collection and of those created without settings.
  public var defaultIndex: IndexKind { settings.defaultIndex }

  /// Runs `body` in the collection a request names; an error after the collection
  /// was dropped meanwhile (its store gone under the request) is NOT_FOUND.
  public func within<Result>(_ requested: String, _ body: (HostedCollection) async throws -> Result) async throws -> Result {
    let collection = try await collection(requested)
    do {
      return try await body(collection)
    } catch {
      guard isHosted(collection) else { throw RetrievalError.collectionDropped(name: collection.descriptor.name) }
      throw error
    }
  }

  /// Whether `collection` is still served (not dropped, nor replaced by a new one of its name).
  public func isHosted(_ collection: HostedCollection) -> Bool {
    entries.withLock { $0[collection.descriptor.name].map { $0.collection.store as AnyObject === collection.store as AnyObject } ?? false }
  }

  /// Every collection, the default first, then by name.
  public var collections: [HostedCollection] {
    entries.withLock { entries in
      entries.values.map(\.collection).sorted { a, b in
        (a.descriptor.name == CollectionName.defaultName ? "" : a.descriptor.name)
          < (b.descriptor.name == CollectionName.defaultName ? "" : b.descriptor.name)
      }
    }
  }

  private var names: [String] { collections.map(\.descriptor.name) }

  /// A metrics label for a requested collection: its name if it exists, "unknown"
  /// otherwise, so that clients cannot create series at will.
  public func label(_ requested: String) -> String {
    let name = CollectionName.resolved(requested)
    return entries.withLock { $0[name] != nil } ? name : "unknown"
  }

  /// Creates the collection `name` indexed as `index` (nil: the default settings); durable once returned.
  public func create(name: String, index: IndexKind?) async throws -> HostedCollection {
    try CollectionName.validate(name, maxLength: settings.maxNameLength)
    let descriptor = CollectionDescriptor(name: name, index: index ?? settings.defaultIndex)
    if let refusal = catalog.refusal(descriptor) { throw refusal }
    return try await lifecycle.withLock {
      let (exists, count) = entries.withLock { ($0[name] != nil, $0.count - 1) }
      guard !exists else { throw RetrievalError.collectionExists(name: name) }
      guard count < settings.maxCollections else { throw RetrievalError.collectionLimit(limit: settings.maxCollections) }
      let collection = host(descriptor, try await catalog.create(descriptor))
      logger.info("collection created", metadata: ["collection": "\(name)", "index": "\(descriptor.index.name)"])
      return collection
    }
  }

  /// Drops the collection `name` and returns how many documents it held. Durable
  /// once returned; its background work has stopped and its files are gone.
  public func drop(name: String) async throws -> Int {
    guard !name.isEmpty else { throw RetrievalError.invalidArgument(field: "name", message: "name is empty") }
    guard name != CollectionName.defaultName else { throw RetrievalError.defaultCollectionPermanent }
    return try await lifecycle.withLock {
      guard let entry = entries.withLock({ $0[name] }) else {
        throw RetrievalError.collectionNotFound(name: String(name.prefix(80)), known: names)
      }
      let documents = (try? await entry.collection.store.view(ViewQuery(sizes: true)).documentCount) ?? 0
      try await catalog.drop(name)
      _ = entries.withLock { $0.removeValue(forKey: name) }
      entry.stop.fire()
      await entry.stopped.wait()
      await catalog.purge(name, store: entry.collection.store)
      logger.info("collection dropped", metadata: ["collection": "\(name)", "documents": "\(documents)"])
      return documents
    }
  }

  /// Runs each collection's background work until graceful shutdown or cancellation.
  public func run() async throws {
    await withDiscardingTaskGroup { group in
      await withGracefulShutdownHandler {
        for await entry in starts {
          group.addTask { await self.runBackground(entry) }
        }
      } onGracefulShutdown: {
        self.startsContinuation.finish()
      }
    }
  }

  private func runBackground(_ entry: Entry) async {
    try? await withThrowingDiscardingTaskGroup { group in
      for service in entry.collection.background {
        group.addTask {
          do {
            try await service.run()
          } catch {
            self.logger.error("collection background work failed", metadata: [
              "collection": "\(entry.collection.descriptor.name)", "error": "\(error)"])
          }
        }
      }
      group.addTask {
        await withGracefulShutdownHandler { await entry.stop.wait() } onGracefulShutdown: { entry.stop.fire() }
        // A drop: stop the collection's work now (a graceful shutdown lets it finish itself).
        if !Task.isShuttingDownGracefully { throw CancellationError() }
      }
    }
    entry.stopped.fire()
  }

  @discardableResult
  private func host(_ descriptor: CollectionDescriptor, _ opened: OpenedCollection) -> HostedCollection {
    let backfiller = Backfiller(
      store: opened.store, encoder: encoder, defaultGraceSeconds: settings.shadowGraceSeconds, logger: logger.with("collection", descriptor.name))
    let collection = HostedCollection(
      descriptor: descriptor, opened: opened, encoder: encoder, limits: limits, backfiller: backfiller, runsBackfills: !settings.readOnly)
    let entry = Entry(collection: collection)
    entries.withLock { $0[descriptor.name] = entry }
    if case .terminated = startsContinuation.yield(entry) { entry.stopped.fire() }
    return collection
  }

  /// Opens collections another process created (read-only replicas), at most once a second.
  private func discover() async -> Bool {
    let now = ContinuousClock.now
    let due = lastDiscovery.withLock { last in
      guard last.map({ now - $0 >= .seconds(1) }) ?? true else { return false }
      last = now
      return true
    }
    guard due else { return false }
    do {
      try await lifecycle.withLock {
        for descriptor in try await catalog.existing(clearingLeftovers: false)
        where entries.withLock({ $0[descriptor.name] == nil }) {
          host(descriptor, try await catalog.open(descriptor))
        }
      }
      return true
    } catch {
      logger.warning("cannot look for new collections", metadata: ["error": "\(error)"])
      return false
    }
  }
}
