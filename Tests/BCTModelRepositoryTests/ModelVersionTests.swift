import BCTModel
import BCTModelRepository
import BCTNumerics
import Foundation
import Testing

@Suite("Model version folders")
struct ModelVersionTests {
  static func folder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("bct-model-\(UUID().uuidString)")
  }

  static func sample(architecture: Architecture = .cnn(channels: [2], hidden: 6)) throws -> ModelVersion {
    var generator = SeededGenerator(seed: 9)
    let backbone = try Backbone(
      architecture: architecture, inputShape: [1, 6, 6], embeddingDim: 4,
      normalization: .fashionMNIST, generator: &generator)
    let head = ClassifierHead.linear(classes: 3, embeddingDim: 4, generator: &generator)
    let manifest = Manifest(
      version: "v1", architecture: .init(name: architecture.name, parameters: architecture.parameters),
      inputShape: [1, 6, 6], inputNormalization: .fashionMNIST,
      embeddingDim: 4, head: .init(kind: "linear", fingerprint: ModelVersion.fingerprint(of: head), numClasses: 3),
      lineage: ModelVersion.fingerprint(of: head), parentVersion: nil, compatibleWith: [],
      training: .init(dataset: "test", seed: 9, classes: [0, 1, 2], fraction: 1, compatibilityObjective: "none",
                      epochs: 1, batchSize: 2, optimizer: "adam", learningRate: 0.001, options: ["head": "linear"],
                      examples: 3, seconds: 0),
      evaluations: [], createdAt: "2026-01-01T00:00:00Z")
    return ModelVersion(manifest: manifest, backbone: backbone, head: head)
  }

  @Test("save then load gives the same embeddings, head and manifest")
  func roundTrip() throws {
    let model = try Self.sample()
    let dir = Self.folder()
    try model.save(to: dir)
    let loaded = try ModelVersion.load(from: dir)
    #expect(loaded.manifest == model.manifest)
    #expect(loaded.head == model.head)
    var generator = SeededGenerator(seed: 1)
    let inputs = Matrix.gaussian(rows: 5, columns: 36, std: 80, using: &generator)
    #expect(loaded.backbone.embed(inputs) == model.backbone.embed(inputs))
    let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    #expect(files == ["backbone.safetensors", "head.safetensors", "manifest.json"])
  }

  @Test("backbone tensors use PyTorch nn.Sequential names and shapes")
  func tensorNames() throws {
    let dir = Self.folder()
    try Self.sample().save(to: dir)
    let bytes = try Array(Data(contentsOf: dir.appendingPathComponent("backbone.safetensors")))
    let tensors = try Safetensors.decode(bytes).tensors
    #expect(tensors["0.weight"]?.shape == [2, 1, 3, 3])
    #expect(tensors["0.bias"]?.shape == [2])
    #expect(tensors["4.weight"]?.shape == [6, 18])
    #expect(tensors["6.weight"]?.shape == [4, 6])
  }

  @Test("a modified head is refused by its fingerprint")
  func tamperedHead() throws {
    var model = try Self.sample()
    let dir = Self.folder()
    model.head.weight.values[0] += 1
    try model.save(to: dir)
    #expect { try ModelVersion.load(from: dir) } throws: { "\($0)".contains("head fingerprint") }
  }

  @Test("missing files, bad manifests and wrong shapes fail with clear messages")
  func broken() throws {
    let dir = Self.folder()
    try Self.sample().save(to: dir)
    try FileManager.default.removeItem(at: dir.appendingPathComponent("head.safetensors"))
    #expect { try ModelVersion.load(from: dir) } throws: { "\($0)".contains("missing head.safetensors") }

    let dir2 = Self.folder()
    try Self.sample().save(to: dir2)
    let manifestURL = dir2.appendingPathComponent("manifest.json")
    var json = try JSONSerialization.jsonObject(with: Data(contentsOf: manifestURL)) as! [String: Any]
    json.removeValue(forKey: "embedding_dim")
    try JSONSerialization.data(withJSONObject: json).write(to: manifestURL)
    #expect { try ModelVersion.load(from: dir2) } throws: { "\($0)".contains("missing field embedding_dim") }

    let dir3 = Self.folder()
    var mlp = try Self.sample(architecture: .mlp(hidden: [5]))
    try mlp.save(to: dir3)
    mlp.manifest.architecture.parameters["hidden"] = "7"
    try mlp.manifest.encoded().write(to: dir3.appendingPathComponent("manifest.json"))
    #expect { try ModelVersion.load(from: dir3) } throws: { "\($0)".contains("has shape [5, 36], expected [7, 36]") }
  }
}
