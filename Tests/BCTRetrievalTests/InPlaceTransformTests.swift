import BCTClient
import BCTNumerics
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// A transform backfill between a natively certified pair moves in place: searches
/// run over both spaces while it fills (the target's queries are certified against
/// the source), no shadow copy is kept, and it resumes after kill -9.
@Suite(
  "In-place transform backfill through the real services", .serialized,
  .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")))
struct InPlaceTransformTests {
  static let label = "v2<-v1"

  @Test("v1 documents move to v2's space in place by T (equal to NumPy's); searches span both spaces meanwhile; kill -9 resumes", arguments: StoreKind.allCases)
  func inPlace(store: StoreKind) async throws {
    try await store.with { arguments in try await inPlace(storeArguments: arguments) }
  }

  func inPlace(storeArguments: [String]) async throws {
    let repo = try await Fixtures.nativelyCertifiedWithTransform()
    let encoder = try await Fixtures.startEncoder(repo)
    defer { Task { await encoder.kill9() } }
    let data = Fixtures.temporaryFolder("bct-inplace-transform")
    let retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: storeArguments)
    let sample = Array(0..<8) + Array(300..<308)
    let v1 = try await RetrievalProcessTests.withClients(retrieval.port, { client, encoderClient in
      try await TransformBackfillTests.index(client, encoderClient)
      let inputs = Matrix(rows: sample.count, columns: 784, values: sample.flatMap { RetrievalProcessTests.test.inputs.row($0) })
      let v1 = try await encoderClient.embed(inputs, rowShape: [1, 28, 28], version: "v1").embeddings
      let started = Task { try await client.backfill(TransformBackfillTests.transformRequest(rate: 100, to: "v2")) }
      let end = ContinuousClock.now + .seconds(60)
      var moved = 0
      while moved < 30 && ContinuousClock.now < end {
        try await Task.sleep(for: .milliseconds(20))
        moved = try await client.stats().versions.first { $0.modelVersion == Self.label }.map { Int($0.documents) } ?? 0
      }
      let during = try await client.stats()
      #expect(!during.hasShadow && during.backfill.mode == .inPlace, "\(during.backfill)")
      // While it fills, raw queries are embedded with v2 and search both spaces.
      let mixed = try await client.search(RetrievalProcessTests.rawSearch(0..<4, k: 5))
      #expect(mixed.queryModelVersion == "v2" && Set(mixed.documentVersions) == ["v1", Self.label], "\(mixed.documentVersions)")
      #expect(mixed.results.allSatisfy { $0.hits.count == 5 })
      started.cancel()
      return v1
    }, encoderPort: encoder.port)
    await retrieval.kill9()
    let resumed = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: storeArguments)
    defer { Task { await resumed.kill9() } }
    let expected = try await TransformBackfillTests.numpyTransform(v1, adapter: repo.appendingPathComponent("v2/adapter-document-v1.safetensors"))
    try await RetrievalProcessTests.withClients(resumed.port, { client, _ in
      let last = try await client.backfill(TransformBackfillTests.transformRequest(rate: 0, to: "v2"))
      #expect(last?.state == .completed && last?.mode == .inPlace, "\(String(describing: last))")
      let after = try await client.stats()
      #expect(after.documents == 340 && !after.hasShadow, "\(after.versions.map { "\($0.modelVersion): \($0.documents)" })")
      #expect(after.versions.map { [$0.modelVersion, $0.transformedFrom] } == [[Self.label, "v1"]], "\(after.versions)")
      var request = Bct_V1_SearchRequest()
      request.embeddings.modelVersion = "v2"
      request.embeddings.vectors.shape = [Int64(expected.rows), Int64(expected.columns)]
      request.embeddings.vectors.values = expected.values
      request.k = 1
      let response = try await client.search(request)
      #expect(response.documentVersions == [Self.label])
      for (r, result) in response.results.enumerated() {
        #expect(result.hits.first?.id == "test-\(sample[r])" && (result.hits.first?.score ?? 0) > 0.9999,
                "sample \(sample[r]): \(result.hits.first.map { "\($0.id) \($0.score)" } ?? "none")")
      }
    }, encoderPort: encoder.port)
  }
}
