import BCTModel
import BCTModelRepository
import BCTTestSupport
import Foundation
import Testing

/// External versions (`kind: external`): their own short manifest, validated, never
/// loaded as a trained model, and read by the one loader the encoder uses.
@Suite("External versions in the repository")
struct ExternalVersionRepositoryTests {
  static func folder() -> URL { Fixtures.temporaryFolder("bct-external-version") }

  @Test("create, save and load: a short manifest with the kind, width, lineage, description and identity")
  func roundTrip() throws {
    let calibration: [Float] = (0..<12).map { Float($0) }
    let version = try ExternalVersion.create(
      version: "text-3", embeddingDim: 4, description: "an API embedder", fingerprint: nil, calibration: calibration)
    let folder = Self.folder().appendingPathComponent("text-3")
    try version.save(to: folder)
    let text = try String(contentsOf: folder.appendingPathComponent("manifest.json"), encoding: .utf8)
    for field in ["\"kind\" : \"external\"", "\"embedding_dim\" : 4", "\"fingerprint\"", "\"description\" : \"an API embedder\""] {
      #expect(text.contains(field), "\(field) in \(text)")
    }
    #expect(!text.contains("architecture") && !text.contains("training"), "\(text)")
    let loaded = try ExternalVersion.load(from: folder)
    #expect(loaded.manifest == version.manifest && loaded.manifest.isExternal && loaded.manifest.inputShape.isEmpty)
    #expect(loaded.weightsDigest == version.weightsDigest && loaded.manifest.lineage == loaded.weightsDigest)
    // The identity depends on the calibration embeddings: another model is another version.
    let other = try ExternalVersion.create(
      version: "text-3", embeddingDim: 4, description: "", fingerprint: nil, calibration: calibration.map { $0 + 1 })
    #expect(other.weightsDigest != version.weightsDigest)
    guard case .external(let stored) = try StoredVersion.load(from: folder) else {
      Issue.record("StoredVersion.load did not read an external version")
      return
    }
    let reloaded = try StoredVersion.load(from: folder)
    #expect(stored.version == "text-3" && reloaded.backbone == nil)
  }

  @Test("a trained-model loader refuses an external folder, and bad external manifests are refused with the reason")
  func refusals() throws {
    let folder = Self.folder()
    try ExternalVersion.create(version: "e", embeddingDim: 8, description: "", fingerprint: nil, calibration: [Float](repeating: 1, count: 16))
      .save(to: folder)
    #expect { try ModelVersion.load(from: folder) } throws: { "\($0)".contains("external version e") && "\($0)".contains("no backbone") }
    for (edit, reason) in [
      ("\"embedding_dim\" : 0", "embedding_dim is 0"),
      ("\"fingerprint\" : \"abc\"", "not a sha256"),
    ] {
      var text = try String(contentsOf: folder.appendingPathComponent("manifest.json"), encoding: .utf8)
      let key = String(edit.split(separator: ":")[0])
      text = text.split(separator: "\n").map { $0.contains(key) ? "  " + edit + "," : String($0) }.joined(separator: "\n")
      let broken = Self.folder()
      try Data(text.utf8).write(to: broken.appendingPathComponent("manifest.json"))
      #expect { try ExternalVersion.load(from: broken) } throws: { "\($0)".contains(reason) }
    }
    #expect(throws: (any Error).self) {
      try ExternalVersion.loadOrCreate(in: folder, embeddingDim: 9, description: nil, fingerprint: nil, calibration: [])
    }
  }
}
