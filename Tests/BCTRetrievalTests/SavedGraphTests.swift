import BCTCollection
import BCTIndex
import BCTNumerics
import BCTRetrieval
import Foundation
import Logging
import Testing

/// The HNSW graphs saved beside each snapshot: a restart reads them back (and
/// replays only the log tail into them) when they hold exactly the snapshot's
/// vectors, and rebuilds them from the snapshot otherwise.
@Suite("Saved HNSW graphs: restart without a rebuild")
struct SavedGraphTests {
  let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
  static let kind = IndexKind.hnsw(HNSWParameters(m: 8, efConstruction: 60, efSearch: 64))

  static func doc(_ i: Int, version: String = "v1", seed: UInt64 = 1) -> StoredDocument {
    var generator = SeededGenerator(seed: seed &* 1_000_003 &+ UInt64(i))
    let vector = Matrix.gaussian(rows: 1, columns: 16, std: 1, using: &generator).l2NormalizedRows().values
    return StoredDocument(id: "d\(i)", metadata: ["n": "\(i % 7)"], inputShape: [], input: [], version: version, vector: vector)
  }

  /// A store of 1,500 v1 documents in the middle of a shadow upgrade to v2 (400 target
  /// vectors), snapshotted, then a log tail of 20 more documents and one deletion.
  func populate(_ dir: URL, seed: UInt64 = 1) throws -> [[String]] {
    let store = try DocumentStore(directory: dir, policy: .always, indexKind: Self.kind, logger: logger)
    try store.commit(.setDocumentVersion("v1"))
    try store.commit(.upsert((0..<1_500).map { Self.doc($0, seed: seed) }))
    let upgrade = ShadowUpgrade(target: "v2", previousVersions: ["v1"], previousDocumentVersion: "v1", graceSeconds: 60, reason: "test")
    try store.commit(.startShadow(upgrade, BackfillPlan(target: "v2", batchSize: 100, rate: 0, shadow: true)))
    try store.commit(.shadowEmbed((0..<400).map { .init(id: "d\($0)", version: "v2", vector: Self.doc($0, seed: seed + 7).vector) }))
    try store.snapshot()
    try store.commit(.upsert((1_500..<1_520).map { Self.doc($0, seed: seed) }))
    try store.commit(.delete(["d3"]))
    return Self.answers(store)
  }

  /// The top 5 of 30 queries in both copies.
  static func answers(_ store: DocumentStore) -> [[String]] {
    let queries = Matrix(rows: 30, columns: 16, values: (2_000..<2_030).flatMap { doc($0, seed: 99).vector })
    return store.read { state in
      state.index.search(queries, k: 5, versions: ["v1"]).map { $0.map(\.scored.id) }
        + state.counterpart.search(queries, k: 5, versions: ["v2"]).map { $0.map(\.scored.id) }
    }
  }

  func reopen(_ dir: URL, kind: IndexKind = Self.kind) throws -> DocumentStore {
    try DocumentStore(directory: dir, policy: .always, indexKind: kind, logger: logger)
  }

  static func graphFile(_ dir: URL) throws -> URL {
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("graphs-") }
    #expect(names.count == 1, "one graph file: \(names)")
    return dir.appendingPathComponent(try #require(names.first))
  }

  @Test("a restart reads both copies' graphs back and replays the log tail into them: the same answers")
  func restartReadsGraphs() throws {
    let dir = DocumentStoreTests.folder()
    let before = try populate(dir)
    let store = try reopen(dir)
    #expect(store.recoveryProblems.isEmpty)
    #expect(store.read { $0.adoptedGraphs } == 2)
    #expect(Self.answers(store) == before)
    store.read { state in
      #expect(state.index.countsByVersion == ["v1": 1_519] && state.counterpart.countsByVersion == ["v2": 399])
      #expect(state.document("d1510")?.vector == Self.doc(1_510).vector && state.document("d3") == nil)
    }
    // It keeps working, and the next snapshot's graphs replace the old file.
    try store.commit(.upsert([Self.doc(5_000)]))
    try store.snapshot()
    _ = try Self.graphFile(dir)
    let again = try reopen(dir)
    #expect(again.read { $0.adoptedGraphs } == 2 && again.read { $0.documents.count } == 1_520)
  }

  @Test("a corrupt graph file is not used: the graphs are rebuilt from the snapshot, nothing is lost")
  func corruptFileRebuilds() throws {
    let dir = DocumentStoreTests.folder()
    _ = try populate(dir)
    let url = try Self.graphFile(dir)
    var bytes = try [UInt8](Data(contentsOf: url))
    bytes[bytes.count / 2] ^= 0x40
    try Data(bytes).write(to: url)
    let store = try reopen(dir)
    #expect(store.read { $0.adoptedGraphs } == 0)
    #expect(store.recoveryProblems.contains { $0.contains("checksum mismatch") && $0.contains("rebuilding") })
    store.read { state in
      #expect(state.index.countsByVersion == ["v1": 1_519] && state.counterpart.countsByVersion == ["v2": 399])
    }
    try expectSelfRetrieval(store)
    #expect(!FileManager.default.fileExists(atPath: url.path), "the unusable file is removed")
  }

  @Test("a graph file of another store (right sequence, valid checksum, other vectors) is rebuilt, not trusted")
  func foreignGraphRebuilds() throws {
    let dir = DocumentStoreTests.folder(), other = DocumentStoreTests.folder()
    _ = try populate(dir, seed: 1)
    _ = try populate(other, seed: 2)
    let mine = try Self.graphFile(dir)
    try FileManager.default.removeItem(at: mine)
    try FileManager.default.copyItem(at: try Self.graphFile(other), to: mine)
    let store = try reopen(dir)
    #expect(store.read { $0.adoptedGraphs } == 0)
    #expect(store.recoveryProblems.filter { $0.contains("does not hold exactly the snapshot's vectors") }.count == 2)
    try expectSelfRetrieval(store)
  }

  @Test("a graph saved for another snapshot or another M is not used; a flat store ignores and removes it")
  func staleOrOtherParameters() throws {
    let dir = DocumentStoreTests.folder()
    _ = try populate(dir)
    let url = try Self.graphFile(dir)
    let newer = dir.appendingPathComponent("graphs-00000000000000000099.bin")
    try FileManager.default.copyItem(at: url, to: newer)
    let stale = try reopen(dir)
    #expect(stale.read { $0.adoptedGraphs } == 0 && stale.recoveryProblems.contains { $0.contains("saved for another snapshot") })
    #expect(!FileManager.default.fileExists(atPath: newer.path) && !FileManager.default.fileExists(atPath: url.path))
    try stale.snapshot()
    let older = dir.appendingPathComponent("graphs-00000000000000000001.bin")
    try FileManager.default.copyItem(at: try Self.graphFile(dir), to: older)
    let otherM = try reopen(dir, kind: .hnsw(HNSWParameters(m: 12)))
    #expect(otherM.read { $0.adoptedGraphs } == 0 && otherM.recoveryProblems.contains { $0.contains("another M") })
    #expect(!FileManager.default.fileExists(atPath: older.path))
    try otherM.snapshot()
    let flat = try reopen(dir, kind: .flat)
    #expect(flat.recoveryProblems.isEmpty && flat.read { $0.adoptedGraphs } == 0)
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path).allSatisfy { !$0.hasPrefix("graphs-") })
  }

  /// Every document's own vector finds it first, in both copies.
  func expectSelfRetrieval(_ store: DocumentStore) throws {
    let ids = (0..<1_520).filter { $0 != 3 }.map { "d\($0)" }
    try store.read { state in
      for copy in [state.index, state.counterpart] {
        let version = try #require(copy.versions.first)
        let held = ids.filter { copy.version(of: $0) != nil }
        let queries = Matrix(rows: held.count, columns: 16, values: held.flatMap { copy.vector(for: $0)! })
        let found = copy.search(queries, k: 1, versions: [version]).map { $0.first?.scored.id }
        #expect(found == held)
      }
    }
  }
}
