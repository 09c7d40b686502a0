import BCTAdapters
import BCTClient
import BCTData
import BCTModelRepository
import BCTNumerics
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// A user with two models of their own, run end to end through `.npy` files as a
/// user would: embeddings exported elsewhere, `bct adapt` creating external versions
/// from them, the services storing and searching those embeddings, query-adapted
/// searches and a transform backfill, each checked against the adapters applied here.
@Suite(
  "External versions end to end through .npy files", .serialized,
  .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")))
struct ExternalVersionTests {
  /// The files a user brings: 6,000 training items embedded by both models (and
  /// their classes), 300 catalogue documents by the old model, 20 queries by the new one.
  struct Files {
    var folder: URL
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
  }

  /// The exported files, made once for both tests.
  static let exported = Task { try await export() }

  /// "Elsewhere": v1 and w1 (independent models of 128 and 96 dimensions) behind an
  /// encoder, their embeddings exported with `bct embed`.
  static func export() async throws -> Files {
    let files = Files(folder: Fixtures.temporaryFolder("bct-external-files"))
    let elsewhere = try await Fixtures.startEncoder(try await Fixtures.adaptedRepository())
    defer { Task { await elsewhere.kill9() } }
    let env = ["BCT_ENCODER": "127.0.0.1:\(elsewhere.port)"]
    for (version, split, range, name) in [
      ("v1", "train", "0-5999", "old.npy"), ("w1", "train", "0-5999", "new.npy"),
      ("v1", "test", "0-299", "catalogue-old.npy"), ("w1", "test", "0-19", "queries-new.npy"),
    ] {
      let result = try await Fixtures.command(
        ["embed", "--split", split, "--range", range, "--model-version", version, "--out", files.path(name)], environment: env)
      try #require(result.status == 0, "\(result)")
    }
    let labels = try DataSource.fashionMNIST(directory: DataSource.debianFashionMNIST).load(.train).labels.prefix(6000)
    try Data(NPY.encode(shape: [labels.count], values: labels.map(Float.init))).write(to: URL(fileURLWithPath: files.path("labels.npy")))
    return files
  }

  /// `bct adapt` between external versions ext-a and ext-b of a new repository, from
  /// the exported files (class labels; Procrustes and affine kinds), with `extra` options.
  static func adaptExternal(
    _ name: String, _ extra: [String]
  ) async throws -> (files: Files, repo: URL, a: URL, b: URL, result: CommandResult) {
    let files = try await exported.value
    let repo = Fixtures.temporaryFolder(name)
    let (a, b) = (repo.appendingPathComponent("ext-a"), repo.appendingPathComponent("ext-b"))
    let result = try await Fixtures.command([
      "adapt", "--old", a.path, "--new", b.path, "--old-embeddings", files.path("old.npy"), "--new-embeddings", files.path("new.npy"),
      "--labels", files.path("labels.npy"), "--kinds", "procrustes,affine", "--resamples", "200",
    ] + extra)
    return (files, repo, a, b, result)
  }

  static func matrix(_ path: String) throws -> Matrix {
    let file = try ArrayFile.read(path: path)
    return Matrix(rows: file.shape[0], columns: file.shape[1], values: file.values)
  }

  /// Ids of the `k` documents nearest each query, by exact inner product.
  static func exactTop(_ queries: Matrix, _ documents: Matrix, k: Int) -> [[String]] {
    let scores = BLAS.matmul(queries, documents, transposeB: .transposed)
    return (0..<queries.rows).map { q in
      let row = scores.row(q)
      return row.indices.sorted { row[$0] > row[$1] }.prefix(k).map { "test-\($0)" }
    }
  }

  @Test("adapt creates external versions from .npy; the services store and search their embeddings, refuse raw inputs, map queries by P and move documents by T")
  func npyEndToEnd() async throws {
    let (files, repo, a, b, adapt) = try await Self.adaptExternal(
      "bct-external-repo", ["--old-description", "the old model", "--margin", "0", "--confidence", "0.5", "--catalogue-size", "3000"])
    try #require(adapt.status == 0, "\(adapt)")
    #expect(adapt.output.contains("query adapter P") && adapt.output.contains("document transform T"), "\(adapt.output)")
    let (old, new) = (try ExternalVersion.load(from: a), try ExternalVersion.load(from: b))
    #expect(old.manifest.embeddingDim == 128 && new.manifest.embeddingDim == 96 && old.manifest.description == "the old model")
    #expect(old.manifest.lineage != new.manifest.lineage)
    let onDisk = try String(contentsOf: b.appendingPathComponent("manifest.json"), encoding: .utf8)
    #expect(onDisk.contains("\"kind\" : \"external\"") && !onDisk.contains("architecture"), "\(onDisk)")
    let records = try #require(new.manifest.adapters)
    #expect(records.count == 2 && records.allSatisfy { $0.oldWeightsSha256 == old.weightsDigest && $0.newWeightsSha256 == new.weightsDigest })
    #expect(records.allSatisfy { $0.calibrationExamples == 4800 && $0.certificate.examples == 1200 && $0.certificate.bounds != nil })
    // Adapting again extends the same versions: their identities do not change.
    #expect(try ExternalVersion.load(from: a).weightsDigest == old.weightsDigest)
    // Passing certificates, as a stronger pair's would be: this test is about what the
    // services do with certified modes (the adapter study measures the real ones).
    try Fixtures.passAdapterCertificates(in: b)
    try await serve(repo, files: files, adapters: (
      query: try AdapterFiles.load(try #require(new.manifest.adapter(for: "ext-a", direction: "query")), in: b, old: old.weightsDigest, new: new.weightsDigest),
      document: try AdapterFiles.load(try #require(new.manifest.adapter(for: "ext-a", direction: "document")), in: b, old: old.weightsDigest, new: new.weightsDigest)))
  }

  @Test("an uncertified transform moves the catalogue only on allow_uncertified, only into a shadow copy, and rolls back")
  func uncertifiedTransformBackfill() async throws {
    let (files, repo, a, b, adapt) = try await Self.adaptExternal("bct-external-uncertified", ["--directions", "document", "--margin", "100"])
    try #require(adapt.status == 0 && adapt.output.contains("NOT certified"), "\(adapt)")
    let (old, new) = (try ExternalVersion.load(from: a), try ExternalVersion.load(from: b))
    let transform = try AdapterFiles.load(
      try #require(new.manifest.adapter(for: "ext-a", direction: "document")), in: b, old: old.weightsDigest, new: new.weightsDigest)
    let encoder = try await Fixtures.startEncoder(repo)
    let data = Fixtures.temporaryFolder("bct-external-uncertified-data")
    let retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data)
    defer { Task { await retrieval.kill9(); await encoder.kill9() } }
    let env = ["BCT_ENCODER": "127.0.0.1:\(encoder.port)", "BCT_RETRIEVAL": "127.0.0.1:\(retrieval.port)"]
    func bct(_ arguments: String...) async throws -> CommandResult { try await Fixtures.command(arguments, environment: env) }
    var result = try await bct("index", "--file", files.path("catalogue-old.npy"), "--embeddings", "--model-version", "ext-a", "--id-prefix", "test-")
    try #require(result.status == 0, "\(result)")

    result = try await bct("backfill", "--to", "ext-b", "--transform")
    #expect(result.status != 0 && result.error.contains("NOT certified") && result.error.contains("--allow-uncertified"), "\(result)")
    result = try await bct("backfill", "--to", "ext-b", "--transform", "--allow-uncertified", "--mode", "in-place")
    #expect(result.status != 0 && result.error.contains("only into a shadow copy"), "\(result)")
    result = try await bct("backfill", "--to", "ext-b", "--allow-uncertified")
    #expect(result.status != 0 && result.error.contains("goes with --transform"), "\(result)")

    // On the operator's word: a shadow upgrade, then the switch; searches are exact over T(old).
    result = try await bct("backfill", "--to", "ext-b", "--transform", "--allow-uncertified")
    try #require(result.status == 0, "\(result)")
    let catalogue = try Self.matrix(files.path("catalogue-old.npy")).l2NormalizedRows()
    let queries = try Self.matrix(files.path("queries-new.npy"))
    let moved = try await Self.search(env, files.path("queries-new.npy"), version: "ext-b")
    #expect(moved.space == "ext-b")
    #expect(moved.ids == Self.exactTop(queries.l2NormalizedRows(), transform.apply(catalogue), k: 5))

    // Rolled back within the grace period: the old vectors are searched again, unchanged.
    result = try await bct("backfill", "--rollback")
    try #require(result.status == 0, "\(result)")
    let restored = try await Self.search(env, files.path("catalogue-old.npy"), version: "ext-a", k: 1, range: "0-19")
    #expect(restored.space == "ext-a" && restored.ids == (0..<20).map { ["test-\($0)"] }, "\(restored)")

    // The word is not remembered across a crash: the resumed fill stops until it is given again.
    var request = Bct_V1_BackfillRequest()
    (request.targetVersion, request.transform, request.allowUncertified, request.maxDocumentsPerSecond) = ("ext-b", true, true, 20)
    try await RetrievalProcessTests.withClients(retrieval.port, { client, _ in
      let started = Task { [request] in try await client.backfill(request) }
      let end = ContinuousClock.now + .seconds(30)
      while try await client.stats().shadow.shadowDocuments < 20 && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
      started.cancel()
    }, encoderPort: encoder.port)
    await retrieval.kill9()
    let resumed = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data)
    defer { Task { await resumed.kill9() } }
    try await RetrievalProcessTests.withClients(resumed.port, { client, _ in
      var stats = try await client.stats()
      let end = ContinuousClock.now + .seconds(30)
      while stats.backfill.state != .failed && ContinuousClock.now < end {
        try await Task.sleep(for: .milliseconds(50))
        stats = try await client.stats()
      }
      #expect(stats.backfill.state == .failed && stats.backfill.message.contains("allow_uncertified"), "\(stats.backfill)")
      #expect(stats.shadow.targetVersion == "ext-b<-ext-a" && stats.shadow.shadowDocuments < 300, "\(stats.shadow)")
      request.maxDocumentsPerSecond = 0
      let last = try await client.backfill(request)
      #expect(last?.state == .completed, "\(String(describing: last))")
      #expect(try await client.stats().documentVersion == "ext-b<-ext-a")
    }, encoderPort: encoder.port)
  }

  @Test("adapt with per-pair relevance (ids, queries, documents, qrels) certifies each mode on recall@10 and nDCG@10")
  func qrelsAdapt() async throws {
    let files = try await Self.exported.value
    let labels = try ArrayFile.read(path: files.path("labels.npy")).values.map { Int($0) }
    let ids = (0..<6000).map { "r\($0)" }
    let (queries, documents) = (Array(0..<300), Array(300..<1300))
    var qrels = ["query-id\tcorpus-id\tscore"]
    for q in queries {
      for d in documents where labels[d] == labels[q] { qrels.append("r\(q)\tr\(d)\t\(1 + d % 2)") }
    }
    qrels.append("r0\tnot-a-document\t1")
    for (name, lines) in [("ids.txt", ids), ("queries.txt", queries.map { ids[$0] }), ("documents.txt", documents.map { ids[$0] }), ("qrels.tsv", qrels)] {
      try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: files.path(name)))
    }
    let repo = Fixtures.temporaryFolder("bct-external-qrels")
    let adapt = try await Fixtures.command([
      "adapt", "--old", repo.appendingPathComponent("qa").path, "--new", repo.appendingPathComponent("qb").path,
      "--old-embeddings", files.path("old.npy"), "--new-embeddings", files.path("new.npy"), "--ids", files.path("ids.txt"),
      "--queries", files.path("queries.txt"), "--documents", files.path("documents.txt"), "--qrels", files.path("qrels.tsv"),
      "--kinds", "procrustes,affine", "--resamples", "200",
    ])
    try #require(adapt.status == 0, "\(adapt)")
    #expect(adapt.output.contains("1 judgments in") && adapt.output.contains("recall@10"), "\(adapt.output)")
    let manifest = try ExternalVersion.load(from: repo.appendingPathComponent("qb")).manifest
    let records = try #require(manifest.adapters)
    #expect(records.count == 2)
    for record in records {
      let bounds = try #require(record.certificate.bounds)
      #expect(bounds.relevance == "qrels" && bounds.steps.map(\.name) == CertificateBounds.requiredQrelsSteps)
      // 20% of the judged queries, held out with every document judged for them: here all 1,000 (each class has some).
      #expect(record.certificate.examples == 60 && bounds.catalogueSize == 1000)
      #expect(Set(record.certificate.perPair?.keys.map { $0 } ?? []) == ["recall@10", "MRR@10", "nDCG@10"])
      #expect(record.calibrationExamples == 6000 - 60 - 1000)
    }
    // bct eval under the same judgments, with both adapters' modes.
    let eval = try await Fixtures.command([
      "eval", "--qrels", files.path("qrels.tsv"), "--old-embeddings", files.path("old.npy"), "--new-embeddings", files.path("new.npy"),
      "--ids", files.path("ids.txt"), "--queries", files.path("queries.txt"), "--documents", files.path("documents.txt"),
      "--old", repo.appendingPathComponent("qa").path, "--new", repo.appendingPathComponent("qb").path, "--json",
    ])
    try #require(eval.status == 0, "\(eval)")
    let report = try #require(try JSONSerialization.jsonObject(with: Data(eval.output.utf8)) as? [String: Any])
    let searches = try #require(report["searches"] as? [[String: Any]])
    #expect(searches.compactMap { $0["search"] as? String } == ["Q_old D_old", "P(Q_new) D_old", "Q_new T(D_old)", "Q_new D_new"])
    #expect(report["queries"] as? Int == 300 && report["documents"] as? Int == 1000 && report["ignored_judgments"] as? Int == 1)
    for search in searches {
      let metrics = try #require(search["metrics"] as? [String: Double])
      #expect(Set(metrics.keys) == ["top-1", "mAP", "recall@10", "MRR@10", "nDCG@10"])
      #expect(metrics.values.allSatisfy { $0 > 0 && $0 <= 1 }, "\(search)")
    }
    // Mixing the two kinds of relevance is refused before anything is read.
    let mixed = try await Fixtures.command([
      "adapt", "--old", "a", "--new", "b", "--old-embeddings", "x.npy", "--new-embeddings", "y.npy", "--labels", "l.npy",
      "--ids", "i.txt", "--queries", "q.txt", "--documents", "d.txt", "--qrels", "r.tsv",
    ])
    #expect(mixed.status != 0 && mixed.error.contains("either --labels or"), "\(mixed)")
    // Judgments that leave fewer than 2 queries with a relevant document, and one folder as both versions, are refused.
    let unjudged = ["query-id\tcorpus-id\tscore", "r0\tr300\t0", "r1\tr301\t1"]
    try Data(unjudged.joined(separator: "\n").utf8).write(to: URL(fileURLWithPath: files.path("unjudged.tsv")))
    let refused = [
      ["--qrels", files.path("unjudged.tsv"), "--new", repo.appendingPathComponent("qc").path],
      ["--qrels", files.path("qrels.tsv"), "--new", repo.appendingPathComponent("qa").path],
    ]
    for (extra, reason) in zip(refused, ["1 queries of", "the same folder"]) {
      let result = try await Fixtures.command([
        "adapt", "--old", repo.appendingPathComponent("qa").path, "--old-embeddings", files.path("old.npy"),
        "--new-embeddings", files.path("new.npy"), "--ids", files.path("ids.txt"), "--queries", files.path("queries.txt"),
        "--documents", files.path("documents.txt"),
      ] + extra)
      #expect(result.status != 0 && result.error.contains(reason), "\(result)")
    }
    // Per-pair files without --qrels are refused; a plain bct eval is not affected by them.
    let stray = try await Fixtures.command(["eval", "--models", "a", "--ids", "i.txt"])
    #expect(stray.status != 0 && stray.error.contains("go with --qrels"), "\(stray)")
  }

  func serve(_ repo: URL, files: Files, adapters: (query: EmbeddingAdapter, document: EmbeddingAdapter)) async throws {
    let encoder = try await Fixtures.startEncoder(repo)
    let retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-external-data"))
    defer { Task { await retrieval.kill9(); await encoder.kill9() } }
    let env = ["BCT_ENCODER": "127.0.0.1:\(encoder.port)", "BCT_RETRIEVAL": "127.0.0.1:\(retrieval.port)"]
    func bct(_ arguments: String...) async throws -> CommandResult { try await Fixtures.command(arguments, environment: env) }

    let models = try await bct("models", "--json")
    #expect(models.status == 0 && models.output.contains("\"kind\":\"external\""), "\(models)")
    let listed = try #require(try JSONSerialization.jsonObject(with: Data(models.output.utf8)) as? [String: Any])
    let extB = try #require((listed["models"] as? [[String: Any]])?.first { $0["version"] as? String == "ext-b" })
    let listedAdapters = extB["adapters"] as? [[String: Any]] ?? []
    #expect(Set(listedAdapters.compactMap { $0["mode"] as? String }) == ["query-adapted", "transformed documents"], "\(extB)")
    #expect(listedAdapters.allSatisfy { $0["old_version"] as? String == "ext-a" && $0["usable"] as? Bool == true })
    #expect((extB["certified_modes"] as? [String: [String]])?["ext-a"]?.contains("query-adapted") == true, "\(extB)")
    let table = try await bct("models")
    #expect(table.output.contains("ext-b -> ext-a query-adapted: ") && table.output.contains("ext-b with ext-a: certified and usable modes"), "\(table)")
    try await RetrievalProcessTests.withClients(retrieval.port, { _, encoderClient in
      let refused = await Fixtures.rpcError {
        try await encoderClient.embed(RetrievalProcessTests.test.inputs.rows(0..<2), rowShape: [1, 28, 28], version: "ext-a")
      }
      #expect(refused?.code == .failedPrecondition && refused?.message.contains("external version") == true, "\(String(describing: refused))")
    }, encoderPort: encoder.port)

    var result = try await bct("index", "--file", files.path("catalogue-old.npy"), "--embeddings", "--model-version", "ext-a", "--id-prefix", "test-")
    #expect(result.status == 0 && result.output.contains("300 new"), "\(result)")
    result = try await bct("search", "--split", "test", "--range", "0-0")
    #expect(result.status != 0 && result.error.contains("external version"), "raw queries have no model to embed them: \(result)")

    // Query-adapted: ext-b queries mapped by P into ext-a's space, as exact search with P applied here.
    let catalogue = try Self.matrix(files.path("catalogue-old.npy")).l2NormalizedRows()
    let queries = try Self.matrix(files.path("queries-new.npy"))
    let adapted = try await Self.search(env, files.path("queries-new.npy"), version: "ext-b")
    #expect(adapted.space == "ext-a")
    #expect(adapted.ids == Self.exactTop(adapters.query.apply(queries.l2NormalizedRows()), catalogue, k: 5))

    // Transform backfill: the catalogue moves into ext-b's space by T, with no raw input.
    result = try await bct("backfill", "--to", "ext-b")
    #expect(result.status != 0 && result.error.contains("external version"), "\(result)")
    result = try await bct("backfill", "--to", "ext-b", "--transform")
    #expect(result.status == 0, "\(result)")
    let moved = try await Self.search(env, files.path("queries-new.npy"), version: "ext-b")
    #expect(moved.space == "ext-b")
    #expect(moved.ids == Self.exactTop(queries.l2NormalizedRows(), adapters.document.apply(catalogue), k: 5))
  }

  /// `bct search --json` of the query embeddings in `file` by `version` (rows `range`
  /// when given) through the services in `environment`: the query space and ids.
  static func search(
    _ environment: [String: String], _ file: String, version: String, k: Int = 5, range: String? = nil
  ) async throws -> (space: String, ids: [[String]]) {
    let rows = range.map { ["--range", $0] } ?? []
    let result = try await Fixtures.command(
      ["search", "--file", file, "--embeddings", "--model-version", version, "-k", "\(k)", "--json"] + rows, environment: environment)
    try #require(result.status == 0, "\(result)")
    return try hits(result.output)
  }

  /// The query space and the ids per query of `bct search --json`.
  static func hits(_ json: String) throws -> (space: String, ids: [[String]]) {
    let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
    let results = try #require(object["results"] as? [[String: Any]])
    let ids = results.map { ($0["hits"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String } }
    return (object["query_space_version"] as? String ?? "", ids)
  }
}
