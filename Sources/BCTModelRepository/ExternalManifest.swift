import Foundation
import BCTModel

/// `manifest.json` of an external version on disk: only what such a version has.
/// In memory it is a `Manifest` of kind `.external` (see `Manifest.external`), whose
/// trained-only fields hold neutral values: no input shape, no classes, and the
/// version's identity in place of a head fingerprint.
struct ExternalManifest: Codable, Equatable {
  var formatVersion: Int = 1
  var kind: VersionKind = .external
  var version: String
  var embeddingDim: Int
  var lineage: String
  var description: String
  /// sha256 (hex) identifying the model outside: given by its owner, or derived
  /// from the calibration embeddings it was created with. Adapters are tied to it.
  var fingerprint: String
  var compatibility: [CompatibilityCertificate]?
  var adapters: [AdapterRecord]?
  var evaluations: [Manifest.EvaluationRecord]
  var createdAt: String

  init(_ manifest: Manifest) {
    version = manifest.version
    embeddingDim = manifest.embeddingDim
    lineage = manifest.lineage
    description = manifest.description ?? ""
    fingerprint = manifest.head.fingerprint
    compatibility = manifest.compatibility
    adapters = manifest.adapters
    evaluations = manifest.evaluations
    createdAt = manifest.createdAt
  }

  /// The in-memory view.
  var manifest: Manifest {
    var manifest = Manifest.external(
      version: version, embeddingDim: embeddingDim, description: description, fingerprint: fingerprint,
      lineage: lineage, createdAt: createdAt)
    manifest.formatVersion = formatVersion
    manifest.compatibility = compatibility
    manifest.adapters = adapters
    manifest.evaluations = evaluations
    return manifest
  }
}

extension Manifest {
  /// The architecture name an external version reports.
  public static let externalArchitecture = "external"

  /// The manifest of an external version of `embeddingDim`, identified by
  /// `fingerprint`, in its own lineage unless `lineage` names one.
  public static func external(
    version: String, embeddingDim: Int, description: String, fingerprint: String, lineage: String? = nil,
    createdAt: String
  ) -> Manifest {
    var manifest = Manifest(
      version: version, architecture: ArchitectureInfo(name: externalArchitecture, parameters: [:]), inputShape: [],
      inputNormalization: InputNormalization(scale: 1, mean: 0, std: 1), embeddingDim: embeddingDim,
      head: HeadInfo(kind: "none", fingerprint: fingerprint, numClasses: 0), lineage: lineage ?? fingerprint,
      parentVersion: nil, compatibleWith: [],
      training: TrainingInfo(
        dataset: "external", seed: 0, classes: nil, fraction: 1, compatibilityObjective: "none", epochs: 0,
        batchSize: 0, optimizer: "none", learningRate: 0, options: [:], examples: 0, seconds: 0),
      evaluations: [], createdAt: createdAt)
    manifest.kind = .external
    manifest.description = description
    return manifest
  }

  /// Whether the version's embeddings are computed outside bct.
  public var isExternal: Bool { kind == .external }
}
