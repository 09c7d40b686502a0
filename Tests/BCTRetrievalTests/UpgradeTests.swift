import BCTTensor
import BCTClient
import BCTCollection
import BCTNumerics
import BCTProto
import BCTRetrieval
import BCTStorage
import BCTTestSupport
import Foundation
import GRPCCore
import Logging
import Synchronization
import Testing

/// The retrieval logic in process, over a real store on disk and a fake encoder:
/// the version policy, in-place and shadow backfills, switch, rollback, finalize,
/// grace period, and restarts at every phase.
@Suite("Upgrades in process: version policy, shadow backfill, switch, rollback")
struct UpgradeTests {
  static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  /// The retrieval components over one store.
  struct Node {
    let store: DocumentStore
    let encoder: FakeEncoder
    let intake: DocumentIntake
    let searcher: Searcher
    let backfiller: Backfiller

    init(_ dir: URL, encoder: FakeEncoder, grace: Double = 3600) throws {
      store = try DocumentStore(directory: dir, policy: .always, logger: UpgradeTests.logger)
      self.encoder = encoder
      intake = DocumentIntake(store: store, encoder: encoder, limits: RetrievalLimits())
      searcher = Searcher(store: store, encoder: encoder, limits: RetrievalLimits())
      backfiller = Backfiller(store: store, encoder: encoder, defaultBatchSize: 7, defaultGraceSeconds: grace, logger: UpgradeTests.logger)
    }

    func upsert(_ ids: Range<Int>, version: String = "", allowUncertified: Bool = false) async throws -> Bct_V1_UpsertResponse {
      var request = Bct_V1_UpsertRequest()
      request.modelVersion = version
      request.allowUncertified = allowUncertified
      request.documents = ids.map { i in
        Bct_V1_Document(id: "d\(i)", metadata: ["n": "\(i)"], inputs: Matrix(rows: 1, columns: FakeEncoder.inputWidth, values: FakeEncoder.input(i)), row: 0, shape: [FakeEncoder.inputWidth])
      }
      return try await intake.upsert(request, deadline: nil)
    }

    func search(_ queries: Range<Int>, version: String = "", allowUncertified: Bool = false, k: Int = 5) async throws -> Bct_V1_SearchResponse {
      var request = Bct_V1_SearchRequest()
      request.inputs = Bct_V1_Tensor(batch: UpgradeTests.inputs(queries), rowShape: [FakeEncoder.inputWidth])
      request.k = Int32(k)
      request.queryModelVersion = version
      request.allowUncertified = allowUncertified
      return try await searcher.search(request, deadline: nil)
    }

    func backfill(_ target: String, mode: Bct_V1_BackfillMode = .auto, grace: Double = 0) async throws {
      var request = Bct_V1_BackfillRequest()
      request.targetVersion = target
      request.mode = mode
      request.graceSeconds = grace
      _ = try await backfiller.handle(request, encoder: encoder, deadline: nil)
    }

    /// Runs the backfiller while `body` runs.
    func running<R: Sendable>(_ body: () async throws -> R) async throws -> R {
      let task = Task { try await backfiller.run() }
      do {
        let result = try await body()
        task.cancel()
        _ = await task.result
        return result
      } catch {
        task.cancel()
        _ = await task.result
        throw error
      }
    }
  }

  static func inputs(_ range: Range<Int>) -> Matrix {
    Matrix(rows: range.count, columns: FakeEncoder.inputWidth, values: range.flatMap { FakeEncoder.input($0 + 5000) })
  }

  /// The exact top-k ids of queries `queries` (embedded with `version`) against documents `docs` (embedded with `documentVersion`, default the same).
  static func exact(_ queries: Range<Int>, docs: [Int], version: String, documentVersion: String? = nil, k: Int = 5, encoder: FakeEncoder) throws -> [[String]] {
    let q = try FakeEncoder.embed(inputs(queries), version: version, table: encoder.table)
    let d = try FakeEncoder.embed(Matrix(rows: docs.count, columns: FakeEncoder.inputWidth, values: docs.flatMap { FakeEncoder.input($0) }), version: documentVersion ?? version, table: encoder.table)
    return (0..<q.rows).map { r in
      let scores = (0..<d.rows).map { j in (0..<q.columns).reduce(Float(0)) { $0 + q.values[r * q.columns + $1] * d.values[j * d.columns + $1] } }
      return docs.indices.sorted { scores[$0] != scores[$1] ? scores[$0] > scores[$1] : "d\(docs[$0])" < "d\(docs[$1])" }.prefix(k).map { "d\(docs[$0])" }
    }
  }

  static func ids(_ response: Bct_V1_SearchResponse) -> [[String]] { response.results.map { $0.hits.map(\.id) } }

  /// Polls `condition` until it holds. The timeout is generous: Swift Testing runs suites side by side on a
  /// cooperative pool of one thread per core, and on a 2-core CI machine CPU-bound suites can hold both for tens of seconds.
  static func eventually(_ what: String, timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws {
    let end = ContinuousClock.now + timeout
    while try await !condition() {
      guard ContinuousClock.now < end else { throw RPCError(code: .deadlineExceeded, message: "timed out waiting for \(what)") }
      try await Task.sleep(for: .milliseconds(5))
    }
  }

  @Test("certified: newer queries search older documents at once; uncertified: refused with the certificate's figures unless allowed; other lineage: always refused")
  func policy() async throws {
    let node = try Node(Fixtures.temporaryFolder("bct-upgrade"), encoder: FakeEncoder())
    _ = try await node.upsert(0..<30, version: "v1")
    let certified = try await node.search(0..<4)
    #expect(certified.queryModelVersion == "v2")
    #expect(certified.documentVersions == ["v1"])
    let refused = await retrievalError { try await node.search(0..<4, version: "v3") }
    guard case .notCertified(role: .query, version: "v3", document: "v1", let explanation)? = refused else {
      Issue.record("expected notCertified, got \(String(describing: refused))")
      return
    }
    // The refusal quotes the certificate's figures.
    #expect(explanation == VersionPolicy(table: node.encoder.table).explain("v3", "v1"))
    #expect(explanation.contains("top-1 80.0 -> 71.5 -> 86.0"))
    let allowed = try await node.search(0..<4, version: "v3", allowUncertified: true)
    #expect(allowed.queryModelVersion == "v3")
    let other = await retrievalError { try await node.search(0..<4, version: "w1", allowUncertified: true) }
    guard case .incompatible(role: .query, version: "w1", document: "v1", _)? = other else {
      Issue.record("expected incompatible, got \(String(describing: other))")
      return
    }
    // Upserting documents of an uncertified version beside v1 ones needs the flag too.
    let mixed = await retrievalError { try await node.upsert(30..<32, version: "v3") }
    #expect(mixed.map { if case .notCertified(role: .document, version: "v3", document: "v1", _) = $0 { true } else { false } } == true)
    _ = try await node.upsert(30..<32, version: "v2")
    #expect(node.store.read { $0.index.versions } == ["v1", "v2"])
    // With v1 and v2 documents, the default query version must be certified against both: v2.
    #expect(try await node.search(0..<2).queryModelVersion == "v2")
    let inPlace = await retrievalError { try await node.backfill("v3", mode: .inPlace) }
    #expect(inPlace.map { if case .inPlaceNotCertified(target: "v3", _) = $0 { true } else { false } } == true)
  }

  @Test("backfill to a certified target runs in place and ends with every document at the target")
  func inPlace() async throws {
    let node = try Node(Fixtures.temporaryFolder("bct-upgrade"), encoder: FakeEncoder())
    _ = try await node.upsert(0..<40, version: "v1")
    try await node.running {
      try await node.backfill("v2")
      #expect(try await node.backfiller.progress().mode == .inPlace)
      try await Self.eventually("the in-place backfill") { try await node.backfiller.progress().state == .completed }
    }
    #expect(node.store.read { $0.index.versions == ["v2"] && $0.documentVersion == "v2" && $0.shadow == nil })
    #expect(Self.ids(try await node.search(0..<10)) == (try Self.exact(0..<10, docs: Array(0..<40), version: "v2", encoder: node.encoder)))
  }

  @Test("shadow backfill: searches stay exactly the old version's until the switch, then are the target's exact results; upserts get both embeddings, deletes remove both; rollback and finalize")
  func shadow() async throws {
    let dir = Fixtures.temporaryFolder("bct-upgrade")
    let encoder = FakeEncoder()
    let node = try Node(dir, encoder: encoder)
    _ = try await node.upsert(0..<60, version: "v1")
    let before = Self.ids(try await node.search(0..<12))
    #expect(before == (try Self.exact(0..<12, docs: Array(0..<60), version: "v2", documentVersion: "v1", encoder: encoder)))
    encoder.hold("v3")
    try await node.running {
      try await node.backfill("v3")
      let progress = try await node.backfiller.progress()
      #expect(progress.mode == .shadow)
      #expect(progress.shadow.reason.contains("NOT certified"))
      // Frozen mid-way: the shadow copy fills, searches do not move.
      encoder.hold("v3", after: 2)
      try await Self.eventually("a few shadow batches") { node.store.read { $0.counterpart.count } >= 14 }
      #expect(Self.ids(try await node.search(0..<12)) == before)
      #expect(try await node.search(0..<1).queryModelVersion == "v2")
      let preview = await retrievalError { try await node.search(0..<1, version: "v3") }
      #expect(preview?.isPolicyRefusal == true, "\(String(describing: preview))")
      // An upsert while filling carries both embeddings; a delete removes both.
      let upserting = Task { try await node.upsert(60..<62) }
      try await Task.sleep(for: .milliseconds(30))
      encoder.release("v3")
      let response = try await upserting.value
      // Embedded with v1 for searches and v3 for the shadow (or, if the switch came first, the other way round).
      #expect(["v1", "v3"].contains(response.modelVersion))
      #expect(node.store.read { state in state.document("d60").map { Set([$0.version, $0.counterpart?.version]) } } == Set(["v1", "v3"]))
      _ = try await node.store.delete(Bct_V1_DeleteRequest.with { $0.ids = ["d5"] }, limits: RetrievalLimits())
      #expect(node.store.read { $0.index.version(of: "d5") == nil && $0.counterpart.version(of: "d5") == nil && $0.document("d5") == nil })
      try await Self.eventually("the switch") { node.store.read { $0.shadow?.switched == true } }
    }
    let docs = (0..<62).filter { $0 != 5 }
    let after = try await node.search(0..<12)
    #expect(after.queryModelVersion == "v3")
    #expect(after.documentVersions == ["v3"])
    #expect(Self.ids(after) == (try Self.exact(0..<12, docs: docs, version: "v3", encoder: encoder)))
    let stats = try await CollectionReport.stats(store: node.store, table: encoder.table, backfill: try await node.backfiller.progress())
    #expect(stats.shadow.phase == .switched)
    #expect(stats.shadow.searchedEmbeddingBytes == UInt64(docs.count * 6 * 4))
    #expect(stats.shadow.otherEmbeddingBytes == UInt64(docs.count * 6 * 4))
    #expect(stats.shadow.graceRemainingSeconds > 3000)
    // Writes after the switch still carry the previous version, so a rollback loses nothing.
    _ = try await node.upsert(62..<63)
    #expect(node.store.read { $0.document("d62")?.counterpart?.version } == "v1")
    try await node.backfiller.rollback()
    let rolledBack = try await node.search(0..<12)
    #expect(rolledBack.queryModelVersion == "v2")
    // Rolled back: v2 queries over v1 documents exactly as before the upgrade (with d60-62, without d5).
    #expect(Self.ids(rolledBack) == (try Self.exact(0..<12, docs: docs + [62], version: "v2", documentVersion: "v1", encoder: encoder)))
    #expect(node.store.read { $0.index.versions == ["v1"] && $0.counterpart.count == 0 && $0.shadow == nil && $0.documentVersion == "v1" })
    // Upgrade again, switch, finalize: the previous copy is gone.
    try await node.running {
      try await node.backfill("v3")
      try await Self.eventually("the second switch") { node.store.read { $0.shadow?.switched == true } }
    }
    try await node.backfiller.finalize()
    #expect(node.store.read { $0.index.versions == ["v3"] && $0.counterpart.count == 0 && $0.shadow == nil })
    #expect(await retrievalError { try await node.backfiller.rollback() } == .noShadowToRollBack)
  }

  @Test("a restart at any phase of a shadow upgrade (log replay and snapshot) restores the same state")
  func restartAtEveryPhase() async throws {
    let dir = Fixtures.temporaryFolder("bct-upgrade")
    let encoder = FakeEncoder()
    func reopen(snapshot: Bool) throws -> (state: [String], shadow: ShadowUpgrade?) {
      let node = try Node(dir, encoder: encoder)
      if snapshot { try node.store.snapshot() }
      return node.store.read { state in
        (state.documents.keys.sorted().map { id in
          guard let doc = state.document(id) else { return "\(id): no searched vector" }
          return "\(id):\(doc.version):\(doc.vector.first ?? 0):\(doc.counterpart?.version ?? "-"):\(doc.counterpart?.vector.first ?? 0)"
        }, state.shadow)
      }
    }
    func current(_ node: Node) -> (state: [String], shadow: ShadowUpgrade?) {
      node.store.read { state in
        (state.documents.keys.sorted().map { id in
          guard let doc = state.document(id) else { return "\(id): no searched vector" }
          return "\(id):\(doc.version):\(doc.vector.first ?? 0):\(doc.counterpart?.version ?? "-"):\(doc.counterpart?.vector.first ?? 0)"
        }, state.shadow)
      }
    }
    var expected: (state: [String], shadow: ShadowUpgrade?)
    do {
      let node = try Node(dir, encoder: encoder)
      _ = try await node.upsert(0..<20, version: "v1")
      encoder.hold("v3", after: 1)
      try await node.running {
        try await node.backfill("v3")
        try await Self.eventually("a shadow batch") { node.store.read { $0.counterpart.count } >= 7 }
        try await Task.sleep(for: .milliseconds(20))
      }
      expected = current(node)
    }
    #expect(expected.shadow?.switched == false)
    for snapshot in [false, true] {
      let restored = try reopen(snapshot: snapshot)
      #expect(restored.state == expected.state)
      #expect(restored.shadow == expected.shadow)
    }
    encoder.release("v3")
    do {
      let node = try Node(dir, encoder: encoder)
      try await node.running {
        // The plan is in the log: the backfill resumes by itself.
        try await Self.eventually("the switch after restart") { node.store.read { $0.shadow?.switched == true } }
      }
      #expect(encoder.embedded("v3") <= 20 + 7)
      expected = current(node)
    }
    for snapshot in [false, true] {
      let restored = try reopen(snapshot: snapshot)
      #expect(restored.state == expected.state)
      #expect(restored.shadow == expected.shadow)
    }
    do {
      let node = try Node(dir, encoder: encoder)
      try await node.backfiller.rollback()
    }
    let rolledBack = try reopen(snapshot: false)
    #expect(rolledBack.shadow == nil)
    #expect(rolledBack.state.allSatisfy { $0.contains(":v1:") && $0.contains(":-:") })
  }

  @Test("the grace period ends by itself: the previous copy is dropped")
  func graceEnds() async throws {
    let node = try Node(Fixtures.temporaryFolder("bct-upgrade"), encoder: FakeEncoder(), grace: 3600)
    _ = try await node.upsert(0..<10, version: "v1")
    try await node.running {
      try await node.backfill("v3", grace: 0.3)
      try await Self.eventually("the switch") { node.store.read { $0.shadow?.switched == true } }
      try await Self.eventually("the end of the grace period") { node.store.read { $0.shadow == nil } }
    }
    #expect(node.store.read { $0.index.versions == ["v3"] && $0.counterpart.count == 0 })
  }

  @Test("a shadow backfill needs every document's raw input; embedding-only upserts are refused while one runs")
  func shadowNeedsInputs() async throws {
    let encoder = FakeEncoder()
    let node = try Node(Fixtures.temporaryFolder("bct-upgrade"), encoder: encoder)
    var request = Bct_V1_UpsertRequest()
    var doc = Bct_V1_Document()
    doc.id = "e0"
    doc.embedding.modelVersion = "v1"
    doc.embedding.values = try FakeEncoder.embed(Self.inputs(0..<1), version: "v1", table: encoder.table).values
    request.documents = [doc]
    _ = try await node.intake.upsert(request, deadline: nil)
    _ = try await node.upsert(0..<5, version: "v1")
    #expect(await retrievalError { try await node.backfill("v3") } == .inputsMissing(target: "v3", documents: 1))
    _ = try await node.store.delete(Bct_V1_DeleteRequest.with { $0.ids = ["e0"] }, limits: RetrievalLimits())
    encoder.hold("v3")
    try await node.backfill("v3")
    doc.id = "e1"
    request.documents = [doc]
    let during = await retrievalError { try await node.intake.upsert(request, deadline: nil) }
    #expect(during == .shadowNeedsInput(field: "documents[0]", id: "e1", target: "v3", sides: ["v1", "v3"]), "\(String(describing: during))")
  }
}

@Suite("Document intake: shapes that are valid alone but not as one document")
struct IntakeShapeTests {
  @Test("an input tensor holding two inputs is refused, in a batch with a valid one, and nothing is stored")
  func twoInputsInOneDocument() async throws {
    let node = try UpgradeTests.Node(Fixtures.temporaryFolder("bct-intake"), encoder: FakeEncoder())
    var request = Bct_V1_UpsertRequest()
    request.documents = [
      Bct_V1_Document(id: "ok", metadata: [:], inputs: Matrix(rows: 1, columns: 8, values: FakeEncoder.input(0)), row: 0, shape: [8]),
      Bct_V1_Document.with {
        $0.id = "two"
        $0.input = Bct_V1_Tensor(batch: Matrix(rows: 2, columns: 8, values: FakeEncoder.input(1) + FakeEncoder.input(2)), rowShape: [8])
      },
    ]
    let error = await retrievalError { try await node.intake.upsert(request, deadline: nil) }
    #expect(error.map { if case .invalidArgument(field: "documents[1].input", _) = $0 { true } else { false } } == true, "\(String(describing: error))")
    #expect(node.store.read { $0.documents.isEmpty })
  }
}

@Suite("Backfill against concurrent writes")
struct BackfillRaceTests {
  @Test("a document re-upserted while its backfill batch is being embedded keeps its new input's vector, not the old input's")
  func reupsertDuringBatch() async throws {
    let encoder = FakeEncoder()
    let node = try UpgradeTests.Node(Fixtures.temporaryFolder("bct-race"), encoder: encoder)
    _ = try await node.upsert(0..<10, version: "v1")
    encoder.hold("v2")
    try await node.running {
      try await node.backfill("v2")
      try await UpgradeTests.eventually("the first batch to reach the encoder") { encoder.calls("v2") == 1 }
      // Replace d0's input (embedded with v1, which is not held) while the batch holding d0 waits for v2.
      var request = Bct_V1_UpsertRequest()
      request.documents = [Bct_V1_Document(id: "d0", metadata: [:], inputs: Matrix(rows: 1, columns: 8, values: FakeEncoder.input(99)), row: 0, shape: [8])]
      _ = try await node.intake.upsert(request, deadline: nil)
      encoder.release("v2")
      try await UpgradeTests.eventually("the backfill") { try await node.backfiller.progress().state == .completed }
    }
    let expected = try FakeEncoder.embed(Matrix(rows: 1, columns: 8, values: FakeEncoder.input(99)), version: "v2", table: encoder.table).values
    let stored = node.store.read { $0.document("d0") }
    #expect(stored?.version == "v2")
    #expect(stored?.vector == expected, "d0's vector is v2 of its new input")
    #expect(stored?.input == FakeEncoder.input(99))
  }
}

@Suite("A write the log cannot keep")
struct CommitFailureTests {
  @Test("fsync fails: the upsert gets UNAVAILABLE, nothing is applied, later writes are refused, searches still work, and a restart recovers every acknowledged document")
  func fsyncFailsDuringUpsert() async throws {
    let dir = Fixtures.temporaryFolder("bct-eio")
    let failing = Mutex(false)
    let operations = FileOperations(
      write: { Glibc.write($0, $1, $2) },
      fsync: { fd in
        if failing.withLock({ $0 }) {
          errno = EIO
          return -1
        }
        return Glibc.fsync(fd)
      },
      truncate: { ftruncate($0, $1) })
    let encoder = FakeEncoder()
    do {
      let store = try DocumentStore(directory: dir, policy: .always, operations: operations, logger: UpgradeTests.logger)
      let intake = DocumentIntake(store: store, encoder: encoder, limits: RetrievalLimits())
      var request = Bct_V1_UpsertRequest()
      request.modelVersion = "v1"
      request.documents = (0..<5).map { Bct_V1_Document(id: "d\($0)", metadata: [:], inputs: Matrix(rows: 1, columns: 8, values: FakeEncoder.input($0)), row: 0, shape: [8]) }
      _ = try await intake.upsert(request, deadline: nil)
      failing.withLock { $0 = true }
      request.documents = [Bct_V1_Document(id: "lost", metadata: [:], inputs: Matrix(rows: 1, columns: 8, values: FakeEncoder.input(9)), row: 0, shape: [8])]
      let error = await retrievalError { try await intake.upsert(request, deadline: nil) }
      #expect(error.map { if case .logWriteFailed = $0 { true } else { false } } == true, "\(String(describing: error))")
      #expect(store.read { $0.documents["lost"] == nil && $0.documents.count == 5 })
      failing.withLock { $0 = false }
      let again = await retrievalError { try await intake.upsert(request, deadline: nil) }
      guard case .logWriteFailed(let detail)? = again else {
        Issue.record("writes stay refused until restart: \(String(describing: again))")
        return
      }
      #expect(detail.contains("restart"), "the refusal says a restart clears it")
      let searcher = Searcher(store: store, encoder: encoder, limits: RetrievalLimits())
      var search = Bct_V1_SearchRequest()
      search.inputs = Bct_V1_Tensor(batch: Matrix(rows: 1, columns: 8, values: FakeEncoder.input(0)), rowShape: [8])
      search.k = 3
      #expect(try await searcher.search(search, deadline: nil).results[0].hits.count == 3)
    }
    let restarted = try DocumentStore(directory: dir, policy: .always, logger: UpgradeTests.logger)
    #expect(restarted.read { $0.documents.keys.sorted() } == ["d0", "d1", "d2", "d3", "d4"])
    #expect(restarted.sequence == 2)
  }
}

@Suite("A version whose embedding size changed under the same name")
struct DimensionChangeTests {
  @Test("writes of the new size are FAILED_PRECONDITION naming both sizes; nothing is stored; the service keeps running")
  func refusedAtWrite() async throws {
    let encoder = FakeEncoder()
    let node = try UpgradeTests.Node(Fixtures.temporaryFolder("bct-dim"), encoder: encoder)
    _ = try await node.upsert(0..<5, version: "v1")
    encoder.redefine("v1", dimension: 5)
    let error = await retrievalError { try await node.upsert(5..<6, version: "v1") }
    #expect(error == .dimensionConflict(version: "v1", dimension: 5, held: 6), "\(String(describing: error))")
    #expect(node.store.read { $0.documents.count } == 5)
  }

  @Test("a log holding vectors of two sizes for one version (written before writes were checked) replays without trapping and reports it")
  func replayDoesNotTrap() throws {
    let dir = Fixtures.temporaryFolder("bct-dim-replay")
    do {
      let store = try DocumentStore(directory: dir, policy: .always, logger: UpgradeTests.logger)
      try store.commit(.upsert([StoredDocument(id: "a", metadata: [:], inputShape: [], input: [], version: "v1", vector: [1, 0, 0])]))
      try store.commit(.upsert([StoredDocument(id: "b", metadata: [:], inputShape: [], input: [], version: "v1", vector: [1, 0])]))
    }
    for snapshot in [false, true] {
      let store = try DocumentStore(directory: dir, policy: .always, logger: UpgradeTests.logger)
      #expect(store.recoveryProblems.contains { $0.contains("document b") && $0.contains("left out") } || snapshot)
      #expect(store.read { $0.document("a") != nil && $0.index.count == 1 })
      if snapshot { try store.snapshot() }
    }
  }
}

@Suite("Search reply size")
struct ReplyCapTests {
  @Test("a reply whose hits and metadata exceed the cap is RESOURCE_EXHAUSTED with the numbers; a smaller k passes")
  func cap() async throws {
    let encoder = FakeEncoder()
    let node = try UpgradeTests.Node(Fixtures.temporaryFolder("bct-reply"), encoder: encoder)
    var request = Bct_V1_UpsertRequest()
    request.modelVersion = "v1"
    request.documents = (0..<50).map { i in
      Bct_V1_Document(id: "d\(i)", metadata: ["blob": String(repeating: "x", count: 1000)], inputs: Matrix(rows: 1, columns: 8, values: FakeEncoder.input(i)), row: 0, shape: [8])
    }
    _ = try await node.intake.upsert(request, deadline: nil)
    var limits = RetrievalLimits()
    limits.maxReplyBytes = 20_000
    let searcher = Searcher(store: node.store, encoder: encoder, limits: limits)
    var search = Bct_V1_SearchRequest()
    search.inputs = Bct_V1_Tensor(batch: UpgradeTests.inputs(0..<4), rowShape: [8])
    search.k = 10
    let error = await retrievalError { try await searcher.search(search, deadline: nil) }
    guard case .replyTooLarge(hits: 40, queries: 4, k: 10, _, limit: 20000)? = error else {
      Issue.record("expected replyTooLarge, got \(String(describing: error))")
      return
    }
    search.k = 4
    #expect(try await searcher.search(search, deadline: nil).results.count == 4)
  }
}

@Suite("Concurrent readers, writers and snapshots")
struct ConcurrencyTests {
  @Test("searches, upserts, deletes and snapshots at once: no deadlock, every search sees whole writes, and a reopen restores the final state")
  func mixedLoad() async throws {
    let dir = Fixtures.temporaryFolder("bct-concurrent")
    let encoder = FakeEncoder()
    let node = try UpgradeTests.Node(dir, encoder: encoder)
    _ = try await node.upsert(0..<50, version: "v1")
    try await withThrowingTaskGroup(of: Void.self) { group in
      for writer in 0..<2 {
        group.addTask {
          for batch in 0..<20 {
            let start = 1000 + writer * 1000 + batch * 10
            _ = try await node.upsert(start..<(start + 10))
            if batch % 4 == 3 { _ = try await node.store.delete(.with { $0.ids = ["d\(start)"] }, limits: RetrievalLimits()) }
          }
        }
      }
      for _ in 0..<3 {
        group.addTask {
          for _ in 0..<40 {
            let response = try await node.search(0..<3, k: 20)
            // Writes of 10 documents are whole: a search never sees a batch half there.
            let ids = Set(response.results.flatMap { $0.hits.map(\.id) })
            #expect(!ids.isEmpty)
          }
        }
      }
      group.addTask {
        for _ in 0..<10 {
          try node.store.snapshot()
          try await Task.sleep(for: .milliseconds(5))
        }
      }
      try await group.waitForAll()
    }
    func summary(_ state: CollectionState) -> [String] {
      state.documents.keys.sorted().map { id -> String in
        let first: Float = state.index.vector(for: id)?.first ?? 0
        return "\(id):\(first)"
      }
    }
    let final = node.store.read(summary)
    let expectedCount = 50 + 2 * 20 * 10 - 2 * 5
    #expect(final.count == expectedCount)
    let reopened = try DocumentStore(directory: dir, policy: .always, logger: UpgradeTests.logger)
    let restored = reopened.read(summary)
    #expect(restored == final)
  }
}

@Suite("Version decisions against concurrent writes")
struct VersionRaceTests {
  @Test("two first upserts of different lineages: the one that commits second decides again and is refused")
  func racingFirstUpserts() async throws {
    let encoder = FakeEncoder()
    let node = try UpgradeTests.Node(Fixtures.temporaryFolder("bct-first"), encoder: encoder)
    encoder.hold("v1")
    let first = Task { try await node.upsert(0..<3, version: "v1") }
    try await UpgradeTests.eventually("the v1 upsert to reach the encoder") { encoder.calls("v1") == 1 }
    _ = try await node.upsert(10..<13, version: "w1")
    encoder.release("v1")
    let error = await retrievalError { try await first.value }
    #expect(error.map { if case .incompatible(role: .document, version: "v1", document: "w1", _) = $0 { true } else { false } } == true, "\(String(describing: error))")
    #expect(node.store.read { $0.index.versions == ["w1"] && $0.documentVersion == "w1" && $0.documents.count == 3 })
  }
}
