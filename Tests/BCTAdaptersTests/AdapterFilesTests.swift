import BCTAdapters
import BCTModelRepository
import BCTNumerics
import Foundation
import Testing

@Suite struct AdapterFilesTests {
  static func adapter(kind: AdapterKind) -> EmbeddingAdapter {
    var generator = SeededGenerator(seed: 1)
    let residual = kind == .mlp
      ? EmbeddingAdapter.Residual(
        inner: .gaussian(rows: 6, columns: 5, std: 1, using: &generator),
        innerBias: .gaussian(rows: 1, columns: 5, std: 1, using: &generator),
        outer: .gaussian(rows: 5, columns: 4, std: 1, using: &generator))
      : nil
    return EmbeddingAdapter(
      kind: kind, linear: .gaussian(rows: 6, columns: 4, std: 1, using: &generator),
      bias: .gaussian(rows: 1, columns: 4, std: 1, using: &generator), residual: residual)
  }

  static func record(for adapter: EmbeddingAdapter, file: String, sha: String) -> AdapterRecord {
    let figures = CompatibilityCertificate.Figures(oldOld: 0.5, newOld: 0.6, newNew: 0.7)
    return AdapterRecord(
      oldVersion: "v1", direction: "document", kind: adapter.kind.rawValue, inputDim: adapter.inputDim,
      outputDim: adapter.outputDim, hiddenDim: adapter.hiddenDim, file: file, fileSha256: sha, oldWeightsSha256: "a",
      newWeightsSha256: "b", calibration: "synthetic", calibrationExamples: 10, fitSeed: 0,
      candidates: [.init(kind: adapter.kind.rawValue, setting: "s", top1: 0.6, meanAveragePrecision: 0.5)],
      certificate: CompatibilityCertificate(
        oldVersion: "v1", oldHeadFingerprint: "f", top1: figures, meanAveragePrecision: figures, bounds: nil,
        marginPoints: 0.5, dataset: "d", split: "s", examples: 10, issuedAt: "now"))
  }

  static func folder() throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("bct-adapter-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  @Test(arguments: AdapterKind.allCases)
  func roundTripsThroughItsFile(kind: AdapterKind) throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let adapter = Self.adapter(kind: kind)
    let name = AdapterFiles.fileName(direction: .document, oldVersion: "v1")
    let sha = try AdapterFiles.write(adapter, to: dir, name: name)
    let loaded = try AdapterFiles.load(Self.record(for: adapter, file: name, sha: sha), in: dir, old: "a", new: "b")
    #expect(loaded == adapter)
  }

  @Test func refusedForOtherWeightsOrAnAlteredFile() throws {
    let dir = try Self.folder()
    defer { try? FileManager.default.removeItem(at: dir) }
    let adapter = Self.adapter(kind: .affine)
    let sha = try AdapterFiles.write(adapter, to: dir, name: "t.safetensors")
    let record = Self.record(for: adapter, file: "t.safetensors", sha: sha)
    #expect(throws: AdapterError.staleWeights(oldVersion: "v1", direction: "document")) {
      try AdapterFiles.load(record, in: dir, old: "a", new: "retrained")
    }
    #expect(throws: AdapterError.staleWeights(oldVersion: "v1", direction: "document")) {
      try AdapterFiles.load(record, in: dir, old: "other", new: "b")
    }
    var bytes = try Data(contentsOf: dir.appendingPathComponent("t.safetensors"))
    bytes[bytes.count - 1] ^= 0xFF
    try bytes.write(to: dir.appendingPathComponent("t.safetensors"))
    #expect(throws: AdapterError.self) { try AdapterFiles.load(record, in: dir, old: "a", new: "b") }
    var traversal = record
    traversal.file = "../t.safetensors"
    #expect(throws: AdapterError.self) { try AdapterFiles.load(traversal, in: dir, old: "a", new: "b") }
  }

  @Test func malformedTensorsAreRefusedNotTrapped() throws {
    let cases: [[String: Safetensors.Tensor]] = [
      [:],
      ["linear": .init(shape: [2, 3], values: [1, 2, 3, 4, 5, 6])],
      ["linear": .init(shape: [2, 3], values: [1, 2, 3, 4, 5, 6]), "bias": .init(shape: [2], values: [0, 0])],
      ["linear": .init(shape: [2, 1], values: [.nan, 1]), "bias": .init(shape: [1], values: [0])],
      // Finite, but large enough to overflow a mapped vector into infinities (NaN once normalised).
      ["linear": .init(shape: [2, 1], values: [3e38, 3e38]), "bias": .init(shape: [1], values: [0])],
      ["linear": .init(shape: [2, 1], values: [1, 1]), "bias": .init(shape: [1], values: [-2e6])],
    ]
    for tensors in cases {
      #expect(throws: (any Error).self) { try AdapterFiles.decode(Safetensors.encode(tensors, metadata: ["kind": "affine"])) }
    }
    let mlpWithoutBranch = Safetensors.encode(
      ["linear": .init(shape: [1, 1], values: [1]), "bias": .init(shape: [1], values: [0])], metadata: ["kind": "mlp"])
    #expect(throws: (any Error).self) { try AdapterFiles.decode(mlpWithoutBranch) }
  }

  @Test func manifestRecordsRoundTripAndOldManifestsHaveNone() throws {
    let adapter = Self.adapter(kind: .procrustes)
    let record = Self.record(for: adapter, file: "f", sha: "s")
    let data = try JSONEncoder().encode(record)
    #expect(try JSONDecoder().decode(AdapterRecord.self, from: data) == record)
    #expect(record.mode == "transformed documents")
  }
}
