import BCTModel
import BCTModelRepository
import Foundation
import GRPCCore

/// One model version as loaded by the encoder: trained (with a backbone) or external.
public struct ServedModel: Sendable {
  /// The version's weights (none for an external version) and manifest.
  public let stored: StoredVersion
  /// The folder (in the repository) it was loaded from.
  public let folder: String
  /// A number unique to this load: a version reloaded from changed files gets a
  /// new one, so batches never mix the old and new weights of one name.
  public let generation: Int
  /// The files it was loaded from, to notice changes.
  public let signature: FolderSignature
  /// `StoredVersion.weightsDigest`, computed once: what adapters are checked against.
  public let weightsDigest: String

  /// A loaded version.
  public init(stored: StoredVersion, folder: String, generation: Int, signature: FolderSignature) {
    self.stored = stored
    self.folder = folder
    self.generation = generation
    self.signature = signature
    self.weightsDigest = stored.weightsDigest
  }

  /// A loaded trained version.
  public init(model: ModelVersion, folder: String, generation: Int, signature: FolderSignature) {
    self.init(stored: .trained(model), folder: folder, generation: generation, signature: signature)
  }

  /// The version name.
  public var version: String { stored.version }
  /// The manifest.
  public var manifest: Manifest { stored.manifest }
  /// The backbone that embeds raw inputs; nil for an external version.
  public var backbone: Backbone? { stored.backbone }

  /// The backbone, or FAILED_PRECONDITION for an external version.
  public func requireBackbone() throws -> Backbone {
    guard let backbone else {
      throw RPCError(code: .failedPrecondition, message: "\(version) is an external version: its embeddings are computed outside bct, so it cannot embed raw inputs; send its embeddings instead (Upsert and Search take embeddings with their model_version)")
    }
    return backbone
  }
}

/// The versions an encoder serves at one moment: an immutable snapshot, so a
/// request keeps the model it started with while a reload swaps in a new catalog.
public struct ModelCatalog: Sendable {
  /// Loaded versions by name.
  public var models: [String: ServedModel] = [:]
  /// Version folders that failed validation, with the reason.
  public var rejected: [String: String] = [:]
  /// The version each refused folder's manifest names, where it could be read.
  public var rejectedVersions: [String: String] = [:]
  /// The version used when a request names none; nil when nothing is loaded.
  public var defaultVersion: String?
  /// The adapters the loaded versions hold, each usable or with its problem.
  public var adapters = ServedAdapters()

  /// An empty catalog.
  public init() {}

  /// The model for a requested version ("" = the default), or NOT_FOUND naming the known ones.
  public func resolve(_ requested: String) throws -> ServedModel {
    let name = requested.isEmpty ? defaultVersion : requested
    guard let name, let model = models[name] else {
      let known = models.keys.sorted()
      if requested.isEmpty {
        throw RPCError(code: .unavailable, message: "no model version is loaded yet, so there is no default version")
      }
      var message = "unknown model version \"\(requested)\"; known versions: \(known.isEmpty ? "none" : known.joined(separator: ", "))"
      if let reason = rejected[requested] { message += "; \(requested) was rejected: \(reason)" }
      throw RPCError(code: .notFound, message: message)
    }
    return model
  }

  /// Loaded versions grouped by lineage (oldest lineage first), oldest first within each.
  public var ordered: [ServedModel] {
    let byAge = models.values.sorted { ($0.manifest.createdAt, $0.version) < ($1.manifest.createdAt, $1.version) }
    var lineages: [String] = []
    for model in byAge where !lineages.contains(model.manifest.lineage) { lineages.append(model.manifest.lineage) }
    return lineages.flatMap { lineage in byAge.filter { $0.manifest.lineage == lineage } }
  }

  /// How `version` relates to every other loaded version (`PairCompatibility.of`).
  public func relations(of version: String) -> [String: PairCompatibility] {
    guard let model = models[version] else { return [:] }
    var relations: [String: PairCompatibility] = [:]
    for other in models.values where other.version != version {
      relations[other.version] = PairCompatibility.of(model.manifest, other.manifest)
    }
    return relations
  }

  /// The newest loaded version (by `created_at`, then name), the default unless pinned.
  public var newestVersion: String? {
    models.values.max { ($0.manifest.createdAt, $0.version) < ($1.manifest.createdAt, $1.version) }?.version
  }
}

/// Sizes and modification times of a version folder's files; a change means reload.
public struct FolderSignature: Sendable, Equatable {
  /// `(size, modification time)` per file name; nil for a missing file.
  public var files: [String: FileStamp?]

  /// Size and modification time of one file.
  public struct FileStamp: Sendable, Equatable {
    /// Bytes.
    public var size: Int
    /// Modification time, seconds since 1970.
    public var modified: Double
  }

  /// Reads the stamps of the model files in `directory`.
  public init(directory: URL) {
    var files: [String: FileStamp?] = [:]
    for name in [ModelVersion.manifestFile, ModelVersion.backboneFile, ModelVersion.headFile] {
      let attributes = try? FileManager.default.attributesOfItem(atPath: directory.appendingPathComponent(name).path)
      if let attributes, let size = attributes[.size] as? Int, let date = attributes[.modificationDate] as? Date {
        files[name] = FileStamp(size: size, modified: date.timeIntervalSince1970)
      } else {
        files[name] = .some(nil)
      }
    }
    self.files = files
  }
}
