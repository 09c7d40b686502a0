import BCTClient
import BCTNumerics
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// The transform backfill through the real services: v1 documents (raw and
/// embedding-only) moved into w1's space by w1's certified document transform,
/// checked against the same transform applied by NumPy, through kill -9.
@Suite(
  "Transform backfill through the real services", .serialized,
  .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")))
struct TransformBackfillTests {
  static let label = "w1<-v1"

  /// `vectors` mapped by the adapter file with NumPy (scripts/apply-adapter.py).
  static func numpyTransform(_ vectors: Matrix, adapter: URL) async throws -> Matrix {
    let python = try #require(ProcessInfo.processInfo.environment["BCT_TEST_PYTHON"], "run through scripts/test.sh (it sets BCT_TEST_PYTHON)")
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let folder = Fixtures.temporaryFolder("bct-numpy")
    let input = folder.appendingPathComponent("in.json")
    let rows = (0..<vectors.rows).map { vectors.row($0).map(Double.init) }
    try JSONSerialization.data(withJSONObject: rows).write(to: input)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [root.appendingPathComponent("scripts/apply-adapter.py").path, adapter.path]
    process.standardInput = try FileHandle(forReadingFrom: input)
    let output = Pipe()
    process.standardOutput = output
    try process.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    let mapped = try #require(try JSONSerialization.jsonObject(with: data) as? [[Double]])
    return Matrix(rows: mapped.count, columns: mapped.first?.count ?? 0, values: mapped.flatMap { $0.map(Float.init) })
  }

  /// Documents 0..<300 by raw input, 300..<340 as v1 embeddings only.
  static func index(_ client: RetrievalClient, _ encoder: EncoderClient) async throws {
    _ = try await client.upsert(RetrievalProcessTests.upsertRequest(0..<200, version: "v1"))
    _ = try await client.upsert(RetrievalProcessTests.upsertRequest(200..<300, version: "v1"))
    let embedded = try await encoder.embed(RetrievalProcessTests.test.inputs.rows(300..<340), rowShape: [1, 28, 28], version: "v1").embeddings
    var request = Bct_V1_UpsertRequest()
    request.documents = (0..<40).map { r in
      var doc = Bct_V1_Document()
      doc.id = "test-\(300 + r)"
      doc.embedding.modelVersion = "v1"
      doc.embedding.values = embedded.row(r)
      return doc
    }
    _ = try await client.upsert(request)
  }

  /// w1 queries on the v1 documents run query-adapted (w1 holds a certified P to v1):
  /// raw queries and the same queries sent as w1 embeddings give the same hits, in v1's space.
  static func queryAdapted(_ client: RetrievalClient, _ encoder: EncoderClient) async throws {
    let raw = try await client.search(RetrievalProcessTests.rawSearch(0..<6, k: 5, version: "w1"))
    #expect(raw.queryModelVersion == "w1" && raw.querySpaceVersion == "v1" && raw.documentVersions == ["v1"])
    let w1 = try await encoder.embed(RetrievalProcessTests.test.inputs.rows(0..<6), rowShape: [1, 28, 28], version: "w1").embeddings
    var request = Bct_V1_SearchRequest()
    request.embeddings.modelVersion = "w1"
    request.embeddings.vectors.shape = [6, 96]
    request.embeddings.vectors.values = w1.values
    request.k = 5
    let embedded = try await client.search(request)
    #expect(embedded.querySpaceVersion == "v1")
    #expect(embedded.results.map { $0.hits.map(\.id) } == raw.results.map { $0.hits.map(\.id) })
    #expect(raw.results.allSatisfy { $0.hits.count == 5 })
  }

  /// A transform backfill to `target` in batches of 10 at `rate` documents/s (0: unlimited).
  static func transformRequest(rate: Double, to target: String = "w1", mode: Bct_V1_BackfillMode = .auto) -> Bct_V1_BackfillRequest {
    var request = Bct_V1_BackfillRequest()
    request.mode = mode
    request.targetVersion = target
    request.transform = true
    request.batchSize = 10
    request.maxDocumentsPerSecond = rate
    return request
  }

  @Test("raw and embedding-only documents move by T (equal to NumPy's), kept apart in Stats, through kill -9", arguments: StoreKind.allCases)
  func transformBackfill(store: StoreKind) async throws {
    try await store.with { arguments in try await transformBackfill(storeArguments: arguments) }
  }

  func transformBackfill(storeArguments: [String]) async throws {
    let repo = try await Fixtures.adaptedRepositoryCertified()
    let encoder = try await Fixtures.startEncoder(repo)
    defer { Task { await encoder.kill9() } }
    let data = Fixtures.temporaryFolder("bct-transform")
    let retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: storeArguments)
    let v1Vectors = try await RetrievalProcessTests.withClients(retrieval.port, { client, encoderClient in
      try await Self.index(client, encoderClient)
      try await Self.queryAdapted(client, encoderClient)
      // Re-embedding cannot move embedding-only documents; the transform can.
      do {
        var plain = Self.transformRequest(rate: 0)
        plain.transform = false
        plain.mode = .shadow
        _ = try await client.backfill(plain)
        Issue.record("a re-embedding shadow backfill started with embedding-only documents")
      } catch let error as RPCError {
        #expect(error.code == .failedPrecondition && error.message.contains("no raw input"), "\(error)")
      }
      // In place needs v1 and w1<-v1 searched together, which w1 (another lineage) is not certified for.
      do {
        _ = try await client.backfill(Self.transformRequest(rate: 0, mode: .inPlace))
        Issue.record("an in-place transform started across lineages")
      } catch let error as RPCError {
        #expect(error.code == .failedPrecondition, "\(error)")
      }
      let sample = Array(0..<8) + Array(300..<308)
      let inputs = Matrix(rows: sample.count, columns: 784, values: sample.flatMap { RetrievalProcessTests.test.inputs.row($0) })
      let v1 = try await encoderClient.embed(inputs, rowShape: [1, 28, 28], version: "v1").embeddings
      let started = Task { try await client.backfill(Self.transformRequest(rate: 100)) }
      let end = ContinuousClock.now + .seconds(30)
      while try await client.stats().shadow.shadowDocuments < 30 && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(20)) }
      started.cancel()
      return (sample, v1)
    }, encoderPort: encoder.port)
    // A crash in the middle of the fill: the upgrade resumes from the log.
    await retrieval.kill9()
    let resumed = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: storeArguments)
    defer { Task { await resumed.kill9() } }
    let expected = try await Self.numpyTransform(v1Vectors.1, adapter: repo.appendingPathComponent("w1/adapter-document-v1.safetensors"))
    try await RetrievalProcessTests.withClients(resumed.port, { client, _ in
      let stats = try await client.stats()
      #expect(stats.shadow.targetVersion == Self.label && stats.shadow.shadowDocuments >= 30, "\(stats.shadow)")
      // The restarted service resumes the fill by itself; under load it may have switched already.
      do {
        let last = try await client.backfill(Self.transformRequest(rate: 0))
        #expect(last?.state == .completed, "\(String(describing: last))")
      } catch let error as RPCError where error.message.contains("already switched to \(Self.label)") {}
      let after = try await client.stats()
      #expect(after.documents == 340)
      #expect(after.versions.map { [$0.modelVersion, $0.transformedFrom] } == [[Self.label, "v1"]], "\(after.versions)")
      #expect(after.versions.first?.embeddingDim == 96 && after.versions.first?.documents == 340)
      // Each sampled document's stored vector is T of its v1 vector, as NumPy computes it.
      var request = Bct_V1_SearchRequest()
      request.embeddings.modelVersion = "w1"
      request.embeddings.vectors.shape = [Int64(expected.rows), 96]
      request.embeddings.vectors.values = expected.values
      request.k = 1
      let response = try await client.search(request)
      #expect(response.documentVersions == [Self.label])
      for (r, result) in response.results.enumerated() {
        #expect(result.hits.first?.id == "test-\(v1Vectors.0[r])" && (result.hits.first?.score ?? 0) > 0.9999,
                "sample \(v1Vectors.0[r]): \(result.hits.first.map { "\($0.id) \($0.score)" } ?? "none")")
      }
      // Raw queries now default to w1, the space the documents are in.
      let raw = try await client.search(RetrievalProcessTests.rawSearch(0..<4, k: 3))
      #expect(raw.queryModelVersion == "w1")
      // An ordinary backfill to w1 later replaces the transformed vectors that have a raw input.
      var replace = Bct_V1_BackfillRequest()
      replace.finalize = true
      _ = try await client.backfill(replace)
      var reembed = Bct_V1_BackfillRequest()
      reembed.targetVersion = "w1"
      let done = try await client.backfill(reembed)
      #expect(done?.state == .completed && done?.skipped == 40, "\(String(describing: done))")
      let counts = Dictionary(uniqueKeysWithValues: try await client.stats().versions.map { ($0.modelVersion, $0.documents) })
      #expect(counts == ["w1": 300, Self.label: 40], "\(counts)")
    }, encoderPort: encoder.port)
  }
}
