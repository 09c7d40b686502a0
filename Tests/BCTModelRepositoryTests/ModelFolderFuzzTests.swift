import BCTModel
import BCTModelRepository
import BCTNumerics
import Foundation
import Testing

/// A model folder is a file the encoder reads at start, on SIGHUP and on every
/// poll: whatever it holds, loading it must refuse with a message, never trap.
@Suite("Model folders: hostile manifests and tensor files are refused, never trapped on")
struct ModelFolderFuzzTests {
  /// A saved sample version and its manifest as a JSON object.
  static func sampleFolder(_ architecture: Architecture = .mlp(hidden: [5])) throws -> (URL, [String: Any]) {
    let dir = ModelVersionTests.folder()
    try ModelVersionTests.sample(architecture: architecture).save(to: dir)
    let data = try Data(contentsOf: dir.appendingPathComponent(ModelVersion.manifestFile))
    return (dir, try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]))
  }

  static func write(_ json: [String: Any], to dir: URL) throws {
    try JSONSerialization.data(withJSONObject: json).write(to: dir.appendingPathComponent(ModelVersion.manifestFile))
  }

  @Test("input shapes, widths and class counts whose products overflow or are absurd are refused by name", arguments: [
    ("input_shape", [1 << 40, 1 << 40, 1]),
    ("input_shape", [Int.max, 2]),
    ("input_shape", [-1, 28, 28]),
    ("input_shape", [0]),
    ("input_shape", []),
    ("input_shape", [1, 1, 1, 1, 1]),
    ("embedding_dim", [Int.max]),
    ("embedding_dim", [0]),
    ("embedding_dim", [-4]),
  ])
  func shapes(field: String, value: [Int]) throws {
    let (dir, manifest) = try Self.sampleFolder()
    var json = manifest
    json[field] = field == "embedding_dim" ? value[0] as Any : value as Any
    try Self.write(json, to: dir)
    #expect { try ModelVersion.load(from: dir) } throws: { error in
      let text = "\(error)"
      return error is ModelError && text.contains("manifest.json") && !text.isEmpty
    }
  }

  @Test("architecture widths and head sizes that overflow are refused", arguments: [
    ("mlp", ["hidden": "\(Int.max)"], 3),
    ("mlp", ["hidden": "\(1 << 31),\(1 << 31)"], 3),
    ("cnn", ["channels": "\(1 << 30)", "hidden": "4"], 3),
    ("cnn", ["channels": "2", "hidden": "\(Int.max / 2)"], 3),
    ("mlp", ["hidden": "5"], Int.max),
    ("mlp", ["hidden": "5"], -1),
    ("mlp", ["hidden": "5"], 0),
  ])
  func architectures(name: String, parameters: [String: String], classes: Int) throws {
    let (dir, manifest) = try Self.sampleFolder()
    var json = manifest
    json["architecture"] = ["name": name, "parameters": parameters]
    var head = try #require(json["head"] as? [String: Any])
    head["num_classes"] = classes
    json["head"] = head
    try Self.write(json, to: dir)
    #expect(throws: ModelError.self) { try ModelVersion.load(from: dir) }
  }

  @Test("500 random mutations of manifest numbers and of the tensor files: each loads or is refused")
  func randomMutations() throws {
    let (dir, manifest) = try Self.sampleFolder(.cnn(channels: [2], hidden: 6))
    let backbone = try Data(contentsOf: dir.appendingPathComponent(ModelVersion.backboneFile))
    let head = try Data(contentsOf: dir.appendingPathComponent(ModelVersion.headFile))
    var generator = SeededGenerator(seed: 27)
    let extremes: [Int] = [0, -1, 1, 2, 3, 255, 1 << 16, 1 << 31, 1 << 32, 1 << 62, Int.max, Int.min, -(1 << 40)]
    func pick<T>(_ values: [T]) -> T { values[Int(generator.next() % UInt64(values.count))] }
    var refused = 0
    for _ in 0..<500 {
      var json = manifest
      switch generator.next() % 5 {
      case 0: json["input_shape"] = (0..<Int(generator.next() % 5)).map { _ in pick(extremes) }
      case 1: json["embedding_dim"] = pick(extremes)
      case 2: json["architecture"] = ["name": pick(["mlp", "cnn"]), "parameters": [pick(["hidden", "channels"]): "\(pick(extremes)),\(pick(extremes))"]]
      case 3: json["head"] = ["kind": "linear", "fingerprint": "0", "num_classes": pick(extremes)]
      default: json["input_normalization"] = ["scale": pick([0.0, 1e308, -1e308]), "mean": 0.0, "std": pick([0.0, 1e-320, 1.0])]
      }
      try Self.write(json, to: dir)
      var tensors = [(ModelVersion.backboneFile, backbone), (ModelVersion.headFile, head)]
      let index = Int(generator.next() % 2)
      var bytes = [UInt8](tensors[index].1)
      let at = Int(generator.next() % UInt64(bytes.count))
      bytes[at] = UInt8(truncatingIfNeeded: generator.next())
      if generator.next() % 3 == 0 { bytes = Array(bytes.prefix(at)) }
      tensors[index].1 = Data(bytes)
      for (name, data) in tensors { try data.write(to: dir.appendingPathComponent(name)) }
      do {
        _ = try ModelVersion.load(from: dir)
      } catch {
        refused += 1
      }
    }
    #expect(refused > 400)
  }
}
