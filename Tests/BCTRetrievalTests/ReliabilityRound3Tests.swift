import BCTCollection
import BCTIndex
import BCTNumerics
import BCTProto
import BCTRetrieval
import BCTServing
import BCTStorage
import BCTTestSupport
import Foundation
import GRPCCore
import Logging
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Reachable traps, lost writes, memory and health found by the third review,
/// each reproduced in process over a real store on disk.
@Suite("Reliability round 3: backfill rates, client shapes, emptied segments, memory, health, progress")
struct ReliabilityRound3Tests {
  typealias Node = UpgradeTests.Node

  @Test("a tiny or absurd max_documents_per_second is INVALID_ARGUMENT naming the range", arguments: [1e-300, 1e-9, 0.001, 1e12, -1, .nan, .infinity])
  func rateRefused(rate: Double) async throws {
    let node = try Node(Fixtures.temporaryFolder("bct-rate"), encoder: FakeEncoder())
    _ = try await node.upsert(0..<3, version: "v1")
    var request = Bct_V1_BackfillRequest()
    request.targetVersion = "v2"
    request.maxDocumentsPerSecond = rate
    let error = await retrievalError { try await node.backfiller.handle(request, encoder: node.encoder, deadline: nil) }
    #expect(error.map { if case .invalidArgument(field: "max_documents_per_second", _) = $0 { true } else { false } } == true)
    #expect(try await node.store.view(ViewQuery()).backfill == nil)
  }

  @Test("a plan with a tiny rate from an older log runs without trapping, and a stop cuts its long pause short")
  func durableTinyRate() async throws {
    let dir = Fixtures.temporaryFolder("bct-rate-log")
    let encoder = FakeEncoder()
    do {
      let node = try Node(dir, encoder: encoder)
      _ = try await node.upsert(0..<20, version: "v1")
      // What an older server logged for rate 1e-300: every restart resumed it and trapped.
      try await node.store.commit(.setBackfill(BackfillPlan(target: "v2", batchSize: 0, rate: 1e-300)))
    }
    let node = try Node(dir, encoder: encoder)
    try await node.running {
      try await UpgradeTests.eventually("the first batch") { encoder.embedded("v2") > 0 }
      try await Task.sleep(for: .milliseconds(300))
      #expect(encoder.embedded("v2") == 1, "batch size 0 from the log is one document per call, then the pause")
      let asked = ContinuousClock.now
      try await node.backfiller.stop()
      try await UpgradeTests.eventually("the stop", timeout: .seconds(5)) { try await node.backfiller.progress().state == .stopped }
      // The pause after one document at the 0.01/s floor is 100 s: ending well before it means the stop cut it
      // short (the loop sees a stop within 100 ms; the margin is for a loaded CI machine's scheduling).
      #expect(ContinuousClock.now - asked < .seconds(30))
      #expect(try await node.store.view(ViewQuery()).backfill == nil)
      // Another backfill can start at once.
      try await node.backfill("v2")
      try await UpgradeTests.eventually("the new backfill") { try await node.backfiller.progress().state == .completed }
    }
  }

  @Test("during a shadow upgrade whose searched version is no longer hosted, a crafted input shape is INVALID_ARGUMENT, not a trap")
  func craftedShapeDuringShadow() async throws {
    let encoder = FakeEncoder()
    let node = try Node(Fixtures.temporaryFolder("bct-shape"), encoder: encoder)
    _ = try await node.upsert(0..<10, version: "v1")
    encoder.hold("v3")
    try await node.backfill("v3")
    encoder.remove("v1")
    for shape: [Int64] in [[Int64.max, Int64.max], [1 << 40, 1 << 40, 1 << 40], [3, 1 << 62, 1 << 62]] {
      var request = Bct_V1_UpsertRequest()
      var document = Bct_V1_Document()
      document.id = "crafted"
      document.input.shape = shape
      document.input.values = [1, 2, 3]
      request.documents = [document]
      let error = await Fixtures.rpcError { try await ErrorStatus.mapping { try await node.intake.upsert(request, deadline: nil) } }
      #expect(error?.code == .invalidArgument, "\(shape): \(String(describing: error))")
    }
    #expect(node.store.read { $0.document("crafted") } == nil)
  }

  @Test("an emptied version segment forgets its dimension: the version's next write of another size is stored and searchable")
  func emptiedSegment() async throws {
    let encoder = FakeEncoder()
    let node = try Node(Fixtures.temporaryFolder("bct-emptied"), encoder: encoder)
    _ = try await node.upsert(0..<4, version: "v1")
    _ = try await node.store.delete(Bct_V1_DeleteRequest.with { $0.ids = (0..<4).map { "d\($0)" } }, limits: RetrievalLimits())
    encoder.redefine("v1", dimension: 5)
    let response = try await node.upsert(10..<12, version: "v1")
    #expect(response.inserted == 2)
    #expect(node.store.read { $0.index.count == 2 && $0.index.dimension(of: "v1") == 5 })
    let found = try await node.search(0..<1, version: "v1")
    #expect(Set(found.results[0].hits.map(\.id)) == ["d10", "d11"])
  }

  @Test("an in-place backfill gives back the old segment's memory: the emptied segment is dropped, a mostly-moved one compacted", arguments: ["flat", "hnsw"])
  func memoryAfterBackfill(kind: String) throws {
    let indexKind: IndexKind = kind == "flat" ? .flat : .hnsw(HNSWParameters(m: 8, efConstruction: 40))
    var index = VersionedIndex(kind: indexKind)
    // What a segment of one vector holds (hnswlib's fixed tables, such as its 65,536
    // update locks, and the least room): memory beyond it is what the vectors cost.
    var tiny = VersionedIndex(kind: indexKind)
    tiny.upsert(ids: ["x"], vectors: Matrix(rows: 1, columns: 16, values: Array(repeating: 0.25, count: 16)), version: "v1")
    let base = try #require(tiny.description(of: "v1")).memoryBytes
    let n = 6000
    var generator = SeededGenerator(seed: 3)
    let vectors = Matrix.gaussian(rows: n, columns: 16, std: 1, using: &generator)
    let ids = (0..<n).map { "d\($0)" }
    index.upsert(ids: ids, vectors: vectors, version: "v1")
    let full = try #require(index.description(of: "v1")).memoryBytes
    // Move 90% in batches, as a backfill does.
    let moved = n * 9 / 10
    for start in stride(from: 0, to: moved, by: 128) {
      let batch = start..<min(start + 128, moved)
      index.upsert(ids: Array(ids[batch]), vectors: Matrix(rows: batch.count, columns: 16, values: Array(vectors.values[(batch.lowerBound * 16)..<(batch.upperBound * 16)])), version: "v2")
    }
    let left = try #require(index.description(of: "v1"))
    // HNSW rebuilds once deleted nodes outnumber live ones (and number 1,024 or more).
    #expect(left.deletedNodes < 1024 || left.deletedNodes <= n - moved, "\(left)")
    #expect(left.memoryBytes - base < (full - base) / 3, "v1 holds \(left.memoryBytes) bytes for \(n - moved) vectors; \(full) when full, \(base) for one")
    #expect(index.version(of: "d0") == "v2" && index.vector(for: "d0") == Array(vectors.values[0..<16]))
    #expect(index.version(of: "d\(n - 1)") == "v1" && index.vector(for: "d\(n - 1)") == Array(vectors.values[((n - 1) * 16)...]))
    #expect(Set(index.ids(of: "v1")) == Set(ids[moved...]))
    let probe = Matrix(rows: 1, columns: 16, values: Array(vectors.values[((n - 1) * 16)...]))
    #expect(index.search(probe, k: 10, versions: ["v1"])[0].count == 10)
    index.upsert(ids: Array(ids[moved...]), vectors: Matrix(rows: n - moved, columns: 16, values: Array(vectors.values[(moved * 16)...])), version: "v2")
    #expect(index.description(of: "v1") == nil && index.versions == ["v2"] && index.count == n)
  }

  @Test("after an fsync failure stops writes, health turns NOT_SERVING")
  func healthAfterFsyncFailure() async throws {
    let failing = Mutex(false)
    let operations = FileOperations(
      write: { Glibc.write($0, $1, $2) },
      fsync: { fd in
        if failing.withLock({ $0 }) { errno = EIO; return -1 }
        return Glibc.fsync(fd)
      },
      truncate: { ftruncate($0, $1) })
    let store = try DocumentStore(directory: Fixtures.temporaryFolder("bct-health"), policy: .always, operations: operations, logger: UpgradeTests.logger)
    let health = HealthStatusStore(services: ["bct.v1.Retrieval"])
    health.setAll(.serving)
    let maintenance = StoreMaintenance(store: store, interval: .seconds(60), changes: 1_000_000, health: health, logger: UpgradeTests.logger)
    let task = Task { try await maintenance.run() }
    defer { task.cancel() }
    let doc = StoredDocument(id: "a", metadata: [:], inputShape: [], input: [], version: "v1", vector: [1, 0])
    try await store.commit(.upsert([doc]))
    try await Task.sleep(for: .milliseconds(400))
    #expect(health.status(of: "") == .serving)
    failing.withLock { $0 = true }
    #expect(throws: (any Error).self) { try store.commit(.upsert([doc])) }
    try await UpgradeTests.eventually("NOT_SERVING", timeout: .seconds(60)) {
      health.status(of: "") == .notServing && health.status(of: "bct.v1.Retrieval") == .notServing
    }
  }

  @Test("200 clients following progress share one count of the store")
  func sharedProgress() async throws {
    let encoder = FakeEncoder()
    let dir = Fixtures.temporaryFolder("bct-progress")
    let node = try Node(dir, encoder: encoder)
    _ = try await node.upsert(0..<50, version: "v1")
    let counting = CountingStore(node.store)
    let backfiller = Backfiller(store: counting, encoder: encoder, logger: UpgradeTests.logger)
    encoder.hold("v2")
    try await backfiller.start(.init(target: "v2"), table: encoder.table)
    counting.reset()
    let started = ContinuousClock.now
    try await withThrowingTaskGroup(of: Void.self) { group in
      for _ in 0..<200 { group.addTask { for _ in 0..<5 { _ = try await backfiller.progress() } } }
      try await group.waitForAll()
    }
    // One count per 200 ms window at most (plus the one in flight at each edge), however many callers.
    let windows = Int((ContinuousClock.now - started) / .milliseconds(200)) + 2
    #expect(counting.sizedViews <= min(windows, 100), "\(counting.sizedViews) full counts for 1,000 progress calls in \(windows) windows")
    #expect(try await backfiller.progress().total == 50)
    encoder.release("v2")
  }
}

/// A store that counts the views that read sizes (a full scan in the memory store).
final class CountingStore: CollectionStore {
  private let base: DocumentStore
  private let count = Mutex(0)
  var sizedViews: Int { count.withLock { $0 } }
  func reset() { count.withLock { $0 = 0 } }

  init(_ base: DocumentStore) { self.base = base }

  func view(_ query: ViewQuery) async throws -> CollectionView {
    if query.sizes { count.withLock { $0 += 1 } }
    try await Task.sleep(for: .milliseconds(5))
    return try await base.view(query)
  }

  func commit<Result: Sendable>(
    reading query: ViewQuery, deciding decide: (CollectionView) throws -> (mutations: [Mutation], result: Result)
  ) async throws -> (sequence: UInt64, result: Result) {
    try await base.commit(reading: query, deciding: decide)
  }

  func search(
    _ queries: Matrix, k: Int, options: SearchOptions, filter: MetadataFilter?, check: (CollectionView) throws -> Void
  ) async throws -> StoreHits {
    try await base.search(queries, k: k, options: options, filter: filter, check: check)
  }

  func list(after cursor: String?, limit: Int, filter: MetadataFilter?, vectors: Bool) async throws -> [StoredDocument] {
    try await base.list(after: cursor, limit: limit, filter: filter, vectors: vectors)
  }

  func documents(_ ids: [String]) async throws -> [(document: StoredDocument, generation: UInt64)] { try await base.documents(ids) }

  func pendingIDs(_ plan: BackfillPlan, skipping: Set<String>, limit: Int) async throws -> [String] {
    try await base.pendingIDs(plan, skipping: skipping, limit: limit)
  }

  func statistics() async throws -> StoreStatistics { try await base.statistics() }
}
