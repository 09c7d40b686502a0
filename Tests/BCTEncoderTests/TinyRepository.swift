import BCTEncoder
import BCTModel
import BCTModelRepository
import BCTNumerics
import BCTTestSupport
import Foundation

/// Small model versions written to a temporary repository, without training.
enum TinyRepository {
  static func folder() -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("bct-repo-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// An MLP version on 1x4x4 inputs with an 8-dimensional embedding; a child shares its
  /// parent's lineage and holds a certificate for it that passes when `certified`.
  static func version(
    _ name: String, parent: ModelVersion? = nil, certified: Bool = true, seed: UInt64 = 1, createdAt: String
  ) throws -> ModelVersion {
    var generator = SeededGenerator(seed: seed)
    let architecture = Architecture.mlp(hidden: [12])
    let backbone = try Backbone(
      architecture: architecture, inputShape: [1, 4, 4], embeddingDim: 8, normalization: .fashionMNIST,
      generator: &generator)
    let head = ClassifierHead.linear(classes: 3, embeddingDim: 8, generator: &generator)
    let fingerprint = ModelVersion.fingerprint(of: head)
    let manifest = Manifest(
      version: name, architecture: .init(name: architecture.name, parameters: architecture.parameters),
      inputShape: [1, 4, 4], inputNormalization: .fashionMNIST, embeddingDim: 8,
      head: .init(kind: "linear", fingerprint: fingerprint, numClasses: 3),
      lineage: parent?.manifest.lineage ?? fingerprint, parentVersion: parent?.version,
      compatibleWith: parent.flatMap { certified ? [$0.version] : nil } ?? [],
      training: .init(dataset: "test", seed: seed, classes: nil, fraction: 1,
                      compatibilityObjective: parent == nil ? "none" : "influence", epochs: 1, batchSize: 2,
                      optimizer: "adam", learningRate: 0.001, options: [:], examples: 3, seconds: 0),
      evaluations: [.init(queryVersion: name, galleryVersion: name, top1: 0.5, top5: 0.9, meanAveragePrecision: 0.4,
                          dataset: "test")],
      createdAt: createdAt,
      compatibility: parent.map { parent in
        [CompatibilityCertificate(
          oldVersion: parent.version, oldHeadFingerprint: parent.manifest.head.fingerprint,
          top1: .init(oldOld: 0.5, newOld: certified ? 0.6 : 0.4, newNew: 0.7),
          meanAveragePrecision: .init(oldOld: 0.4, newOld: 0.5, newNew: 0.6),
          bounds: CertificateFixtures.bounds(lowerBoundPoints: certified ? 2 : -1), marginPoints: 0.5, dataset: "test",
          split: "validation", examples: 3, issuedAt: createdAt)]
      })
    return ModelVersion(manifest: manifest, backbone: backbone, head: head)
  }

  static func served(_ model: ModelVersion, generation: Int) -> ServedModel {
    ServedModel(model: model, folder: model.version, generation: generation,
                signature: FolderSignature(directory: URL(fileURLWithPath: "/nonexistent")))
  }
}
