import BCTModel
import Crypto
import Foundation

/// A version whose embeddings are computed outside bct (`kind: external`): a folder
/// holding `manifest.json` and any adapters fitted between it and other versions.
/// The services store and search its embeddings; nothing can embed raw inputs with it.
public struct ExternalVersion: Sendable {
  /// Its manifest (`isExternal`).
  public var manifest: Manifest

  /// The version described by `manifest`, which must be external.
  public init(manifest: Manifest) throws {
    guard manifest.isExternal else { throw ModelError("version \(manifest.version) is not external") }
    try Self.validate(manifest)
    self.manifest = manifest
  }

  /// The version name.
  public var version: String { manifest.version }

  /// What adapters are tied to: the version's recorded identity.
  public var weightsDigest: String { manifest.head.fingerprint }

  /// A new external version of `embeddingDim`, identified by `fingerprint` or, when
  /// nil, by the sha256 of its name, width and `calibration` (its embeddings of the
  /// items it is first adapted on, as float32).
  public static func create(
    version: String, embeddingDim: Int, description: String, fingerprint: String?, calibration: [Float]
  ) throws -> ExternalVersion {
    let identity = fingerprint ?? {
      var hasher = SHA256()
      hasher.update(data: Array("external \(version) \(embeddingDim)".utf8))
      hasher.update(tensor: "calibration", shape: [calibration.count / max(embeddingDim, 1), embeddingDim], values: calibration)
      return hasher.finalize().hex
    }()
    return try ExternalVersion(manifest: .external(
      version: version, embeddingDim: embeddingDim, description: description, fingerprint: identity,
      createdAt: ISO8601DateFormatter().string(from: Date())))
  }

  /// Reads and validates an external version folder.
  public static func load(from directory: URL) throws -> ExternalVersion {
    let manifest = try ModelVersion.readManifest(in: directory)
    guard manifest.isExternal else {
      throw ModelError("\(directory.path) holds trained version \(manifest.version), not an external one")
    }
    do {
      return try ExternalVersion(manifest: manifest)
    } catch let error as ModelError {
      throw ModelError("\(directory.path)/\(ModelVersion.manifestFile): \(error.description)")
    }
  }

  /// Writes the manifest into `directory` (created if missing) under a temporary
  /// name and renames it, so a reader never sees half of it.
  public func save(to directory: URL) throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try manifest.encoded().write(to: directory.appendingPathComponent(ModelVersion.manifestFile), options: .atomic)
  }

  private static func validate(_ manifest: Manifest) throws {
    guard (1...Architecture.maximumWidth).contains(manifest.embeddingDim) else {
      throw ModelError("embedding_dim is \(manifest.embeddingDim); it must be 1 to \(Architecture.maximumWidth)")
    }
    guard !manifest.version.isEmpty, !manifest.lineage.isEmpty else {
      throw ModelError("an external version needs a version name and a lineage")
    }
    let fingerprint = manifest.head.fingerprint
    guard fingerprint.count == 64, fingerprint.allSatisfy(\.isHexDigit) else {
      throw ModelError("fingerprint \"\(fingerprint.prefix(80))\" is not a sha256 in hex (64 characters)")
    }
  }
}

extension ExternalVersion {
  /// The external version in `folder` (named after the folder), checked to be
  /// `embeddingDim` wide; when the folder holds no version yet, a new one created
  /// from `calibration` (see `create`) and saved there.
  public static func loadOrCreate(
    in folder: URL, embeddingDim: Int, description: String?, fingerprint: String?, calibration: [Float]
  ) throws -> ExternalVersion {
    let manifest = folder.appendingPathComponent(ModelVersion.manifestFile)
    guard FileManager.default.fileExists(atPath: manifest.path) else {
      let created = try create(
        version: folder.lastPathComponent, embeddingDim: embeddingDim,
        description: description ?? "embeddings computed outside bct", fingerprint: fingerprint, calibration: calibration)
      try created.save(to: folder)
      return created
    }
    let version = try load(from: folder)
    guard version.manifest.embeddingDim == embeddingDim else {
      throw ModelError("\(folder.path) holds external version \(version.version) of width \(version.manifest.embeddingDim), but the embeddings given for it are \(embeddingDim) wide")
    }
    if let fingerprint, fingerprint != version.weightsDigest {
      throw ModelError("\(folder.path): the fingerprint given (\(fingerprint.prefix(12))...) is not the version's (\(version.weightsDigest.prefix(12))...); a changed model needs a new version name")
    }
    return version
  }
}

/// What a version folder holds, loaded and validated.
public enum StoredVersion: Sendable {
  case trained(ModelVersion)
  case external(ExternalVersion)

  /// Reads either kind of version folder.
  public static func load(from directory: URL) throws -> StoredVersion {
    let manifest = try ModelVersion.readManifest(in: directory)
    return manifest.isExternal
      ? .external(try ExternalVersion.load(from: directory)) : .trained(try ModelVersion.load(from: directory))
  }

  /// The manifest.
  public var manifest: Manifest {
    switch self {
    case .trained(let model): model.manifest
    case .external(let version): version.manifest
    }
  }

  /// The version name.
  public var version: String { manifest.version }

  /// What adapters are tied to (`ModelVersion.weightsDigest`, `ExternalVersion.weightsDigest`).
  public var weightsDigest: String {
    switch self {
    case .trained(let model): model.weightsDigest
    case .external(let version): version.weightsDigest
    }
  }

  /// The backbone; nil for an external version.
  public var backbone: Backbone? {
    if case .trained(let model) = self { return model.backbone }
    return nil
  }
}
