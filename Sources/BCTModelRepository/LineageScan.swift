import Foundation

/// Finds the versions of a lineage among the sibling folders of a model repository.
public enum LineageScan {
  /// Every loadable version in `repository` (one sub-folder per version) of
  /// `lineage`, except those named in `excluding`, oldest first (`created_at`).
  /// Folders that are not model versions are skipped; a version of the lineage
  /// that fails to load is an error, so a certificate never silently misses one.
  public static func versions(in repository: URL, lineage: String, excluding: Set<String>) throws -> [ModelVersion] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: repository.path)) ?? []
    var found: [ModelVersion] = []
    for name in names.sorted() where !name.hasPrefix(".") {
      let folder = repository.appendingPathComponent(name)
      guard let data = FileManager.default.contents(atPath: folder.appendingPathComponent(ModelVersion.manifestFile).path),
            let manifest = try? Manifest.decode(data),
            manifest.lineage == lineage, !excluding.contains(manifest.version) else { continue }
      found.append(try ModelVersion.load(from: folder))
    }
    return found.sorted { ($0.manifest.createdAt, $0.version) < ($1.manifest.createdAt, $1.version) }
  }

  /// The versions of `candidates` in `version`'s lineage created before it
  /// (`created_at`, then name), in the order given.
  public static func olderVersions(of version: ModelVersion, among candidates: [ModelVersion]) -> [ModelVersion] {
    candidates.filter {
      $0.manifest.lineage == version.manifest.lineage && $0.version != version.version
        && ($0.manifest.createdAt, $0.version) < (version.manifest.createdAt, version.version)
    }
  }
}
