import BCTModelRepository
import Foundation
import Logging
import Synchronization

/// The model versions in a repository folder, loaded, validated and kept current.
///
/// `reload()` rescans the folder: new or changed version folders are loaded and
/// validated (a broken one is refused with a log line and never replaces a healthy
/// load of the same version), removed ones are dropped, and the catalog is swapped
/// atomically. Readers take `catalog` snapshots and keep them for a whole request.
public final class ModelRegistry: Sendable {
  /// The repository folder (one sub-folder per version).
  public let directory: URL
  /// A file in the repository naming the default version, overriding "newest".
  public static let defaultVersionFile = ModelVersion.repositoryDefaultFile

  private let logger: Logger
  private let state = Mutex(State())

  private struct State {
    var catalog = ModelCatalog()
    var nextGeneration = 1
    /// Signatures of folders that failed, so an unchanged broken folder is not re-read every poll.
    var failedSignatures: [String: FolderSignature] = [:]
  }

  /// A registry over `directory`; nothing is loaded until `reload()`.
  public init(directory: URL, logger: Logger) {
    self.directory = directory
    self.logger = logger
  }

  /// The versions being served now.
  public var catalog: ModelCatalog { state.withLock { $0.catalog } }

  /// What a reload changed.
  public struct ReloadSummary: Sendable, Equatable {
    /// Versions loaded for the first time or reloaded from changed files.
    public var loaded: [String] = []
    /// Versions no longer in the folder.
    public var removed: [String] = []
    /// Folders refused, with the reason.
    public var rejected: [String: String] = [:]
    /// Whether anything changed.
    public var changed: Bool { !loaded.isEmpty || !removed.isEmpty || !rejected.isEmpty }
  }

  /// Rescans the repository and swaps in the new catalog. Never throws: problems
  /// with single versions are logged and reported in the summary.
  ///
  /// - Parameter loading: Called with the version a new or changed folder's
  ///   manifest names, before its weights are read and validated.
  @discardableResult
  public func reload(loading: (String) -> Void = { _ in }) -> ReloadSummary {
    var summary = ReloadSummary()
    let (current, failed) = state.withLock { ($0.catalog, $0.failedSignatures) }
    var next = ModelCatalog()
    var nextFailed: [String: FolderSignature] = [:]
    guard let folders = versionFolders() else { return summary }
    var claimedBy: [String: String] = [:]
    for folder in folders {
      let name = folder.lastPathComponent
      let signature = FolderSignature(directory: folder)
      if let previous = current.models.values.first(where: { $0.folder == name }),
        previous.signature == signature
      {
        next.models[previous.version] = previous
        claimedBy[previous.version] = name
        continue
      }
      if let reason = current.rejected[name], failed[name] == signature {
        next.rejected[name] = reason
        next.rejectedVersions[name] = current.rejectedVersions[name]
        nextFailed[name] = signature
        keepPrevious(folder: name, from: current, into: &next, claimedBy: &claimedBy)
        continue
      }
      let declared = ModelVersion.declaredVersion(in: folder)
      if let declared { loading(declared) }
      do {
        let served = try load(folder, signature: signature, current: current, claimedBy: claimedBy)
        next.models[served.version] = served
        claimedBy[served.version] = name
        summary.loaded.append(served.version)
      } catch {
        let reason = "\(error)"
        next.rejected[name] = reason
        next.rejectedVersions[name] = declared
        nextFailed[name] = signature
        summary.rejected[name] = reason
        logger.error("refused model version folder", metadata: ["folder": "\(name)", "reason": "\(reason)"])
        keepPrevious(folder: name, from: current, into: &next, claimedBy: &claimedBy)
      }
    }
    for version in current.models.keys where next.models[version] == nil {
      summary.removed.append(version)
      logger.warning("model version removed from the repository", metadata: ["version": "\(version)"])
    }
    next.adapters = resolveAdapters(next.models, previous: current.adapters)
    next.defaultVersion = chooseDefault(next)
    if next.defaultVersion != current.defaultVersion {
      logger.info("default model version", metadata: ["version": "\(next.defaultVersion ?? "none")"])
    }
    state.withLock { state in
      state.catalog = next
      state.failedSignatures = nextFailed
    }
    return summary
  }

  /// The adapters of `models`, logging each newly checked one that cannot be used.
  private func resolveAdapters(_ models: [String: ServedModel], previous: ServedAdapters) -> ServedAdapters {
    let next = ServedAdapters.resolve(models, previous: previous, repository: directory)
    for (key, slot) in next.slots where previous.slots[key].map({ $0.generations == slot.generations }) != true {
      if case .failure(let problem) = slot.adapter {
        logger.warning("adapter not usable", metadata: ["adapter": "\(key)", "reason": "\(problem)"])
      }
    }
    return next
  }

  /// The repository's version folders by name; nil (logged) when the repository cannot be read.
  private func versionFolders() -> [URL]? {
    do {
      return try FileManager.default.contentsOfDirectory(
        at: directory, includingPropertiesForKeys: [.isDirectoryKey], options: [.skipsHiddenFiles]
      ).filter { (try? $0.resourceValues(forKeys: [.isDirectoryKey]).isDirectory) == true }
        .sorted { $0.lastPathComponent < $1.lastPathComponent }
    } catch {
      logger.error("cannot read the model repository; keeping the loaded versions", metadata: [
        "directory": "\(directory.path)", "error": "\(error)",
      ])
      return nil
    }
  }

  /// Loads and validates the version in `folder`: refused when another folder
  /// serves the same version, or when it would replace a loaded version's
  /// embeddings under the same name.
  private func load(
    _ folder: URL, signature: FolderSignature, current: ModelCatalog, claimedBy: [String: String]
  ) throws -> ServedModel {
    let model = try StoredVersion.load(from: folder)
    if let other = claimedBy[model.version] {
      throw ModelRegistryError("version \(model.version) is already served from folder \(other)")
    }
    if let previous = current.models[model.version], let change = Self.change(from: previous.stored, to: model) {
      throw ModelRegistryError("refused to replace version \(model.version) under the same name: \(change) changed; embeddings already stored with \(model.version) would no longer match its queries. Give the changed model a new version name")
    }
    let generation = state.withLock { state -> Int in
      defer { state.nextGeneration += 1 }
      return state.nextGeneration
    }
    logger.info("loaded model version", metadata: [
      "version": "\(model.version)", "architecture": "\(model.manifest.architecture.name)",
      "lineage": "\(model.manifest.lineage.prefix(12))", "parent": "\(model.manifest.parentVersion ?? "-")",
      "folder": "\(folder.lastPathComponent)",
    ])
    return ServedModel(stored: model, folder: folder.lastPathComponent, generation: generation, signature: signature)
  }

  /// What differs between two loads of one version in a way that changes its
  /// embeddings (kind, weights or identity, head, embedding size, lineage, input
  /// handling); nil when only the manifest's records (evaluations, certificates,
  /// adapters, description) changed.
  static func change(from old: StoredVersion, to new: StoredVersion) -> String? {
    switch (old, new) {
    case (.trained(let old), .trained(let new)):
      return change(from: old, to: new)
    case (.external(let old), .external(let new)):
      if old.manifest.embeddingDim != new.manifest.embeddingDim {
        return "the embedding size (\(old.manifest.embeddingDim) -> \(new.manifest.embeddingDim))"
      }
      if old.manifest.lineage != new.manifest.lineage { return "the lineage" }
      return old.weightsDigest == new.weightsDigest ? nil : "the external model's fingerprint"
    default:
      return "the kind (trained or external)"
    }
  }

  /// What differs between two loads of one trained version (see the other `change`).
  static func change(from old: ModelVersion, to new: ModelVersion) -> String? {
    if old.backbone.embeddingDim != new.backbone.embeddingDim {
      return "the embedding size (\(old.backbone.embeddingDim) -> \(new.backbone.embeddingDim))"
    }
    if old.manifest.lineage != new.manifest.lineage { return "the lineage" }
    if old.manifest.head.fingerprint != new.manifest.head.fingerprint { return "the classifier head" }
    if old.backbone.architecture != new.backbone.architecture || old.backbone.inputShape != new.backbone.inputShape {
      return "the architecture"
    }
    if old.backbone.normalization != new.backbone.normalization { return "the input normalization" }
    if old.backbone.network.parameters != new.backbone.network.parameters { return "the backbone weights" }
    return nil
  }

  /// A folder that became broken keeps serving its last good load.
  private func keepPrevious(
    folder: String, from current: ModelCatalog, into next: inout ModelCatalog, claimedBy: inout [String: String]
  ) {
    guard let previous = current.models.values.first(where: { $0.folder == folder }),
      claimedBy[previous.version] == nil
    else { return }
    next.models[previous.version] = previous
    claimedBy[previous.version] = folder
    logger.warning("keeping the last good load of the version", metadata: ["version": "\(previous.version)"])
  }

  private func chooseDefault(_ catalog: ModelCatalog) -> String? {
    let pinFile = directory.appendingPathComponent(Self.defaultVersionFile)
    if let text = try? String(contentsOf: pinFile, encoding: .utf8) {
      let pinned = text.trimmingCharacters(in: .whitespacesAndNewlines)
      if catalog.models[pinned] != nil { return pinned }
      logger.warning("the repository's DEFAULT names a version that is not loaded; using the newest", metadata: [
        "pinned": "\(pinned)"
      ])
    }
    return catalog.newestVersion
  }
}

/// A problem with the repository as a whole (not one version's files).
public struct ModelRegistryError: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
