import BCTCollection
import BCTIndex
import BCTProto
import BCTRetrieval
import BCTTestSupport
import Foundation
import Testing

/// The collection registry over the memory store's catalog, in process: names,
/// limits, isolation, what a reopen finds, and what interrupted creates and drops leave.
@Suite("Collection registry and the memory catalog")
struct CollectionRegistryTests {
  static func registry(_ dir: URL, encoder: FakeEncoder, maxCollections: Int = 3) throws -> CollectionRegistry {
    var settings = CollectionRegistry.Settings()
    settings.maxCollections = maxCollections
    settings.maxNameLength = 12
    let store = try DocumentStore(directory: dir, policy: .always, logger: UpgradeTests.logger)
    let catalog = MemoryCollectionCatalog(
      dataDirectory: dir, policy: .always, snapshotInterval: .seconds(60), snapshotChanges: 1000, health: nil, logger: UpgradeTests.logger)
    return CollectionRegistry(
      defaultCollection: OpenedCollection(store: store, background: []), catalog: catalog, encoder: encoder, limits: RetrievalLimits(),
      settings: settings, logger: UpgradeTests.logger)
  }

  /// Runs `body` while `registry` runs its background work.
  static func running(_ registry: CollectionRegistry, _ body: () async throws -> Void) async throws {
    let runner = Task { try await registry.run() }
    defer { runner.cancel() }
    try await body()
  }

  @Test("create, limit, names and drop; a reopen finds exactly what was acknowledged, with its index and documents")
  func lifecycle() async throws {
    let dir = Fixtures.temporaryFolder("bct-registry")
    let encoder = FakeEncoder()
    let first = try Self.registry(dir, encoder: encoder)
    try await Self.running(first) {
      _ = try await first.create(name: "a", index: .hnsw(HNSWParameters(m: 6)))
      _ = try await first.create(name: "b", index: nil)
      _ = try await first.create(name: "c", index: nil)
      await #expect(throws: RetrievalError.collectionLimit(limit: 3)) { try await first.create(name: "d", index: nil) }
      await #expect(throws: RetrievalError.collectionExists(name: "a")) { try await first.create(name: "a", index: nil) }
      for bad in ["", "A", "1a", "a-b", "a.b", "abcdefghijklm"] {
        await #expect(throws: RetrievalError.self, "\(bad)") { try await first.create(name: bad, index: nil) }
      }
      let node = try await first.collection("a")
      _ = try await node.store.commit(.upsert([StoredDocument(id: "x", metadata: [:], inputShape: [], input: [], version: "v1", vector: [1, 0, 0, 0])]))
      #expect(try await first.drop(name: "c") == 0)
      await #expect(throws: RetrievalError.defaultCollectionPermanent) { try await first.drop(name: "default") }
      await #expect(throws: RetrievalError.self) { try await first.collection("c") }
      #expect(first.collections.map(\.descriptor.name) == ["default", "a", "b"])
      #expect(first.label("") == "default" && first.label("c") == "unknown" && first.label("a") == "a")
    }
    let leftovers = dir.appendingPathComponent("collections")
    for name in [".creating-e-1", ".dropped-b-2"] {
      try FileManager.default.createDirectory(at: leftovers.appendingPathComponent(name), withIntermediateDirectories: true)
    }
    let second = try Self.registry(dir, encoder: encoder)
    try await second.openExisting()
    #expect(second.collections.map(\.descriptor.name) == ["default", "a", "b"])
    let a = try await second.collection("a")
    #expect(a.descriptor.index == .hnsw(HNSWParameters(m: 6)))
    #expect(try await a.store.view(ViewQuery()).documentCount == 1)
    #expect(try await second.collection("").store.view(ViewQuery()).documentCount == 0)
    #expect(try FileManager.default.contentsOfDirectory(atPath: leftovers.path).sorted() == ["a", "b"])
  }

  @Test("a collection whose settings file is damaged stops the start with its name, rather than being skipped")
  func damagedSettings() async throws {
    let dir = Fixtures.temporaryFolder("bct-registry")
    let folder = dir.appendingPathComponent("collections/broken")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    try Data(#"{"kind":"ivf"}"#.utf8).write(to: folder.appendingPathComponent("collection.json"))
    let registry = try Self.registry(dir, encoder: FakeEncoder())
    let error = await #expect(throws: (any Error).self) { try await registry.openExisting() }
    #expect("\(error.map { "\($0)" } ?? "")".contains("broken"))
  }
}
