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

  @Test("adapt writes both adapters, tied to both versions' weights, each with its mode's certificate")
  func adaptWritesAdapters() async throws {
    let repo = try await Fixtures.adaptedRepository()
    let (v1, w1) = (repo.appendingPathComponent("v1"), repo.appendingPathComponent("w1"))
    let manifest = try Self.manifest(w1)
    let records = manifest.adapters ?? []
    #expect(records.map(\.direction).sorted() == ["document", "query"])
    let query = try #require(manifest.adapter(for: "v1", direction: "query"))
    let document = try #require(manifest.adapter(for: "v1", direction: "document"))
    #expect((query.inputDim, query.outputDim, document.inputDim, document.outputDim) == (96, 128, 128, 96))
    for record in records {
      let bounds = try #require(record.certificate.bounds)
      #expect(bounds.catalogueSize == 3000 && bounds.resamples == 200 && bounds.steps.count == 4)
      let passes = bounds.steps.allSatisfy { $0.lowerBoundPoints > record.certificate.marginPoints }
      #expect((record.certificate.verdict == .certified) == passes)
      #expect(record.calibrationExamples == 57_000 && record.candidates.first?.kind == record.kind)
      #expect(record.candidates.count == 5, "procrustes and four ridge strengths: \(record.candidates)")
    }
    // Adapters are refused for other weights.
    let (old, new) = (try ModelVersion.load(from: v1).weightsDigest, try ModelVersion.load(from: w1).weightsDigest)
    _ = try AdapterFiles.load(query, in: w1, old: old, new: new)
    #expect(throws: AdapterError.self) { try AdapterFiles.load(query, in: w1, old: new, new: new) }
  }

  @Test("Embed's target_version maps through P only when its mode is certified; ListModels lists adapters and modes")
  func serveQueryAdapter() async throws {
    let repo = try await Fixtures.adaptedRepository()
    let w1 = repo.appendingPathComponent("w1")
    let query = try #require(try Self.manifest(w1).adapter(for: "v1", direction: "query"))
    let certified = try await Fixtures.adaptedRepositoryCertified()
    let passing = try #require(try Self.manifest(certified.appendingPathComponent("w1")).adapter(for: "v1", direction: "query"))
    #expect(passing.certificate.verdict == .certified)
    let (old, new) = (try ModelVersion.load(from: repo.appendingPathComponent("v1")).weightsDigest, try ModelVersion.load(from: w1).weightsDigest)
    let p = try AdapterFiles.load(query, in: w1, old: old, new: new)
    try await Self.serve(repo, query: query, p: p)
    try await Self.serve(certified, query: passing, p: p)
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
