import BCTModel
import BCTNumerics
import Crypto
import Foundation

/// A model version as stored in a model repository folder:
/// `manifest.json`, `backbone.safetensors`, `head.safetensors`.
public struct ModelVersion: Sendable {
  /// Its manifest.
  public var manifest: Manifest
  /// The embedding network.
  public var backbone: Backbone
  /// The version's own classifier head.
  public var head: ClassifierHead

  public init(manifest: Manifest, backbone: Backbone, head: ClassifierHead) {
    self.manifest = manifest
    self.backbone = backbone
    self.head = head
  }

  /// The version name.
  public var version: String { manifest.version }

  /// File name of the manifest in a version folder.
  public static let manifestFile = "manifest.json"
  /// File name of the backbone weights.
  public static let backboneFile = "backbone.safetensors"
  /// File name of the classifier head weights.
  public static let headFile = "head.safetensors"
  /// A file in a model repository (beside the version folders) naming the version
  /// the encoder uses when a request names none, instead of the newest.
  public static let repositoryDefaultFile = "DEFAULT"

  /// sha256 (hex) over the head's tensors: for each of "bias", "weight" in order,
  /// the name, the shape and the little-endian float32 data.
  public static func fingerprint(of head: ClassifierHead) -> String {
    var hasher = SHA256()
    for (name, matrix, shape) in [("bias", head.bias, [head.classCount]),
                                  ("weight", head.weight, [head.classCount, head.embeddingDim])] {
      hasher.update(tensor: name, shape: shape, values: matrix.values)
    }
    return hasher.finalize().hex
  }

  /// Writes the three files into `directory` (created if missing). Files are
  /// written to temporary names and renamed, so a reader never sees half a model.
  public func save(to directory: URL) throws {
    let fm = FileManager.default
    try fm.createDirectory(at: directory, withIntermediateDirectories: true)
    var backboneTensors: [String: Safetensors.Tensor] = [:]
    for (name, spec, value) in backbone.network.namedParameters {
      backboneTensors[name] = Safetensors.Tensor(shape: spec.tensorShape, values: value.values)
    }
    let headTensors = [
      "weight": Safetensors.Tensor(shape: [head.classCount, head.embeddingDim], values: head.weight.values),
      "bias": Safetensors.Tensor(shape: [head.classCount], values: head.bias.values),
    ]
    let files: [(String, Data)] = [
      (Self.backboneFile, Data(Safetensors.encode(backboneTensors, metadata: ["format": "pt", "architecture": backbone.architecture.name]))),
      (Self.headFile, Data(Safetensors.encode(headTensors, metadata: ["format": "pt", "kind": head.kind.rawValue]))),
      (Self.manifestFile, try manifest.encoded()),
    ]
    for (name, data) in files {
      let target = directory.appendingPathComponent(name)
      let temporary = directory.appendingPathComponent(".\(name).tmp")
      try data.write(to: temporary)
      if fm.fileExists(atPath: target.path) { try fm.removeItem(at: target) }
      try fm.moveItem(at: temporary, to: target)
    }
  }

  /// The version a folder's manifest names, read without loading or validating
  /// anything else; nil when the manifest is missing or names none.
  public static func declaredVersion(in directory: URL) -> String? {
    struct Named: Decodable { let version: String }
    guard let data = FileManager.default.contents(atPath: directory.appendingPathComponent(manifestFile).path) else {
      return nil
    }
    return try? JSONDecoder().decode(Named.self, from: data).version
  }

  /// Reads and validates a version folder: manifest schema, tensor names and
  /// shapes against the architecture, and the head fingerprint.
  public static func load(from directory: URL) throws -> ModelVersion {
    func read(_ name: String) throws -> Data {
      let url = directory.appendingPathComponent(name)
      guard let data = FileManager.default.contents(atPath: url.path) else {
        throw ModelError("\(directory.path): missing \(name); a model version folder holds \(manifestFile), \(backboneFile) and \(headFile)")
      }
      return data
    }
    let manifest = try readManifest(in: directory)
    if manifest.isExternal {
      throw ModelError("\(directory.path) holds external version \(manifest.version): it has no backbone to embed raw inputs with; bct takes its embeddings as computed elsewhere")
    }
    let architecture = try Architecture(name: manifest.architecture.name, parameters: manifest.architecture.parameters)
    let n = manifest.inputNormalization
    guard n.std != 0, n.scale.isFinite, n.mean.isFinite, n.std.isFinite else {
      throw ModelError("\(directory.path): input normalisation needs a finite scale and mean and a non-zero std")
    }
    let layers: [any Layer]
    do {
      layers = try architecture.layers(inputShape: manifest.inputShape, embeddingDim: manifest.embeddingDim)
    } catch let error as ModelError {
      throw ModelError("\(directory.path)/\(manifestFile): \(error.description)")
    }
    guard (1...Architecture.maximumWidth).contains(manifest.head.numClasses) else {
      throw ModelError("\(directory.path)/\(manifestFile): head.num_classes is \(manifest.head.numClasses); it must be 1 to \(Architecture.maximumWidth)")
    }
    let backboneTensors: [String: Safetensors.Tensor]
    let headTensors: [String: Safetensors.Tensor]
    do {
      backboneTensors = try Safetensors.decode(Array(try read(backboneFile))).tensors
      headTensors = try Safetensors.decode(Array(try read(headFile))).tensors
    } catch let error as Safetensors.FormatError {
      throw ModelError("\(directory.path): \(error.description)")
    }
    let parameters = try layerParameters(layers, from: backboneTensors, in: directory, architecture: architecture.name)
    let backbone = try Backbone(
      architecture: architecture, inputShape: manifest.inputShape, embeddingDim: manifest.embeddingDim,
      normalization: n, parameters: parameters)
    let head = try head(manifest, from: headTensors, in: directory)
    let fingerprint = Self.fingerprint(of: head)
    guard fingerprint == manifest.head.fingerprint else {
      throw ModelError("\(directory.path): head fingerprint is \(fingerprint) but the manifest records \(manifest.head.fingerprint); the head was modified or belongs to another version")
    }
    return ModelVersion(manifest: manifest, backbone: backbone, head: head)
  }

  /// The manifest in `directory`, of either kind.
  static func readManifest(in directory: URL) throws -> Manifest {
    let url = directory.appendingPathComponent(manifestFile)
    guard let data = FileManager.default.contents(atPath: url.path) else {
      throw ModelError("\(directory.path): missing \(manifestFile); a model version folder holds \(manifestFile), \(backboneFile) and \(headFile), or for an external version \(manifestFile) alone")
    }
    do {
      return try Manifest.decode(data)
    } catch let error as DecodingError {
      throw ModelError("\(url.path) is not a valid manifest: \(describe(error))")
    }
  }

  /// Each layer's parameters from the backbone's tensors, checked by name and shape.
  private static func layerParameters(
    _ layers: [any Layer], from tensors: [String: Safetensors.Tensor], in directory: URL, architecture: String
  ) throws -> [[Matrix]] {
    try layers.enumerated().map { index, layer in
      try layer.parameterSpecs.map { spec in
        let name = "\(index).\(spec.name)"
        guard let tensor = tensors[name] else {
          throw ModelError("\(directory.path)/\(backboneFile): missing tensor \(name) of shape \(spec.tensorShape) for \(architecture)")
        }
        guard tensor.shape == spec.tensorShape else {
          throw ModelError("\(directory.path)/\(backboneFile): tensor \(name) has shape \(tensor.shape), expected \(spec.tensorShape)")
        }
        return Matrix(rows: spec.rows, columns: spec.columns, values: tensor.values)
      }
    }
  }

  /// The classifier head from its tensors, checked against the manifest's shape and kind.
  private static func head(_ manifest: Manifest, from tensors: [String: Safetensors.Tensor], in directory: URL) throws -> ClassifierHead {
    guard let weight = tensors["weight"], let bias = tensors["bias"],
          weight.shape == [manifest.head.numClasses, manifest.embeddingDim], bias.shape == [manifest.head.numClasses] else {
      throw ModelError("\(directory.path)/\(headFile): needs weight [\(manifest.head.numClasses), \(manifest.embeddingDim)] and bias [\(manifest.head.numClasses)]")
    }
    guard let kind = ClassifierHead.Kind(rawValue: manifest.head.kind) else {
      throw ModelError("\(directory.path): unknown head kind \"\(manifest.head.kind)\"; expected linear or etf")
    }
    return ClassifierHead(
      kind: kind, weight: Matrix(rows: manifest.head.numClasses, columns: manifest.embeddingDim, values: weight.values),
      bias: Matrix(rows: 1, columns: manifest.head.numClasses, values: bias.values))
  }

  private static func describe(_ error: DecodingError) -> String {
    switch error {
    case .keyNotFound(let key, let context):
      return "missing field \(path(context.codingPath + [key]))"
    case .typeMismatch(_, let context), .valueNotFound(_, let context):
      return "wrong type at \(path(context.codingPath)): \(context.debugDescription)"
    case .dataCorrupted(let context):
      return "corrupt JSON at \(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
      return "\(error)"
    }
  }

  private static func path(_ keys: [any CodingKey]) -> String {
    keys.isEmpty ? "<root>" : keys.map { key in
      key.intValue.map { "[\($0)]" } ?? key.stringValue.replacingOccurrences(
        of: "([a-z0-9])([A-Z])", with: "$1_$2", options: .regularExpression).lowercased()
    }.joined(separator: ".")
  }
}
