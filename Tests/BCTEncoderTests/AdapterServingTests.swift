import BCTAdapters
import BCTModelRepository
import BCTNumerics
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// `bct adapt` between two independently trained versions (other lineages, other
/// widths), and the encoder serving the result over gRPC: adapters listed with their
/// modes' certificates, Embed mapping queries into the old space when certified.
@Suite(
  "Adapters from bct adapt, served by bct-encoder", .serialized,
  .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")))
struct AdapterServingTests {
  static func manifest(_ folder: URL) throws -> Manifest {
    try Manifest.decode(Data(contentsOf: folder.appendingPathComponent(ModelVersion.manifestFile)))
  }

  @Test("adapt writes both adapters with their certificates; Embed's target_version applies P only when certified")
  func adaptAndServe() async throws {
    let repo = Fixtures.temporaryFolder("bct-adapt")
    let (v1, w1) = (repo.appendingPathComponent("v1"), repo.appendingPathComponent("w1"))
    let common = ["--arch", "mlp", "--val-fraction", "0.05"]
    var result = try await Fixtures.command(["train"] + common + ["--hidden", "64", "--epochs", "1", "--fraction", "0.05", "--seed", "0", "--out", v1.path])
    #expect(result.status == 0, "\(result)")
    result = try await Fixtures.command(["train"] + common + ["--hidden", "256", "--epochs", "2", "--fraction", "0.3", "--seed", "7", "--embedding-dim", "96", "--out", w1.path])
    #expect(result.status == 0, "\(result)")
    result = try await Fixtures.command([
      "adapt", "--old", v1.path, "--new", w1.path, "--kinds", "procrustes,affine", "--resamples", "200",
      "--margin", "0", "--confidence", "0.5", "--catalogue-size", "3000",
    ])
    #expect(result.status == 0 && result.output.contains("<- chosen"), "\(result)")
    let manifest = try Self.manifest(w1)
    let records = manifest.adapters ?? []
    #expect(records.map(\.direction).sorted() == ["document", "query"])
    let query = try #require(manifest.adapter(for: "v1", direction: "query"))
    let document = try #require(manifest.adapter(for: "v1", direction: "document"))
    #expect((query.inputDim, query.outputDim, document.inputDim, document.outputDim) == (96, 128, 128, 96))
    for record in records {
      #expect(record.certificate.bounds?.catalogueSize == 3000 && record.certificate.bounds?.resamples == 200)
      #expect(record.calibrationExamples == 57_000 && record.candidates.first?.kind == record.kind)
    }
    // Adapters are refused for other weights: v1 retrained under its name would not match.
    let v1Model = try ModelVersion.load(from: v1)
    let w1Model = try ModelVersion.load(from: w1)
    let p = try AdapterFiles.load(query, in: w1, old: v1Model.weightsDigest, new: w1Model.weightsDigest)
    #expect(throws: AdapterError.self) { try AdapterFiles.load(query, in: w1, old: w1Model.weightsDigest, new: w1Model.weightsDigest) }

    try await Self.serve(repo, query: query, p: p)
    // The same adapter with a passing certificate (as a stronger old version would
    // give it): the encoder now maps queries, and lists the mode as certified.
    var passing = manifest
    passing.adapters = records.map { record in
      var record = record
      if record.direction == "query" {
        let c = record.certificate
        record.certificate = CompatibilityCertificate(
          oldVersion: c.oldVersion, oldHeadFingerprint: c.oldHeadFingerprint, top1: c.top1,
          meanAveragePrecision: c.meanAveragePrecision, bounds: CertificateFixtures.bounds(lowerBoundPoints: 2),
          marginPoints: 0.5, dataset: c.dataset, split: c.split, examples: c.examples, issuedAt: c.issuedAt)
      }
      return record
    }
    try passing.encoded().write(to: w1.appendingPathComponent(ModelVersion.manifestFile), options: .atomic)
    try await Self.serve(repo, query: try #require(passing.adapter(for: "v1", direction: "query")), p: p)
  }

  /// Starts an encoder on `repo` and checks ListModels and Embed against the query adapter's record.
  static func serve(_ repo: URL, query: AdapterRecord, p: EmbeddingAdapter) async throws {
    let encoder = try await Fixtures.startEncoder(repo)
    defer { Task { await encoder.kill9() } }
    try await EncoderProcessTests.withClients(port: encoder.port) { client, _ in
      let listing = try await client.listModels(Bct_V1_ListModelsRequest())
      let info = try #require(listing.models.first { $0.version == "w1" })
      #expect(info.adapters.count == 2 && info.adapters.allSatisfy(\.usable))
      let queryInfo = try #require(info.adapters.first { $0.mode == .queryAdapted })
      #expect(queryInfo.oldVersion == "v1" && queryInfo.inputDim == 96 && queryInfo.outputDim == 128)
      let certified = query.certificate.verdict == .certified
      #expect((queryInfo.certificate.verdict == .certified) == certified)
      #expect((info.certifiedModes["v1"]?.modes.contains(.queryAdapted) ?? false) == certified)
      #expect(info.compatibility["v1"] == .incompatible)

      let pixels = EncoderProcessTests.pixels(3 * 784)
      var request = EncoderProcessTests.request(version: "w1", shape: [3, 1, 28, 28], values: pixels)
      let plain = try await client.embed(request)
      #expect(plain.spaceVersion == "w1" && plain.embeddings.shape == [3, 96])
      request.targetVersion = "v1"
      if certified {
        let mapped = try await client.embed(request)
        #expect(mapped.spaceVersion == "v1" && mapped.modelVersion == "w1" && mapped.embeddings.shape == [3, 128])
        let expected = p.apply(Matrix(rows: 3, columns: 96, values: plain.embeddings.values))
        #expect(zip(mapped.embeddings.values, expected.values).allSatisfy { abs($0 - $1) < 1e-4 })
      } else {
        await EncoderProcessTests.expectStatus(.failedPrecondition, containing: "not certified") { try await client.embed(request) }
      }
      var backwards = EncoderProcessTests.request(version: "v1", shape: [1, 1, 28, 28], values: EncoderProcessTests.pixels(784))
      backwards.targetVersion = "w1"
      await EncoderProcessTests.expectStatus(.failedPrecondition, containing: "holds no query adapter") { try await client.embed(backwards) }
      backwards.targetVersion = "v9"
      await EncoderProcessTests.expectStatus(.notFound, containing: "unknown target_version") { try await client.embed(backwards) }
    }
  }
}
