import BCTEvaluation
import BCTModelRepository
import BCTTestSupport
import Testing

@Suite("Certificate recording")
struct CompatibilityCertifierTests {
  static func certificate(_ old: String, newOld: Double) -> CompatibilityCertificate {
    CompatibilityCertificate(
      oldVersion: old, oldHeadFingerprint: "h-\(old)", top1: .init(oldOld: 0.8, newOld: newOld, newNew: 0.9),
      meanAveragePrecision: .init(oldOld: 0.7, newOld: 0.75, newNew: 0.8),
      bounds: CertificateFixtures.bounds(lowerBoundPoints: (newOld - 0.8) * 100 - 0.5), marginPoints: 0.5, dataset: "d",
      split: "validation", examples: 10, issuedAt: "t")
  }

  @Test("compatible_with lists exactly the certified versions; re-certifying replaces the earlier certificate")
  func recording() {
    var manifest = Manifest(
      version: "v3", architecture: .init(name: "mlp", parameters: [:]), inputShape: [1], inputNormalization: .fashionMNIST,
      embeddingDim: 2, head: .init(kind: "linear", fingerprint: "h3", numClasses: 2), lineage: "L", parentVersion: "v2",
      compatibleWith: ["stale"],
      training: .init(dataset: "d", seed: 0, classes: nil, fraction: 1, compatibilityObjective: "ract", epochs: 1,
                      batchSize: 1, optimizer: "adam", learningRate: 0.001, options: [:], examples: 1, seconds: 0),
      evaluations: [], createdAt: "t")
    manifest = CompatibilityCertifier.recording([Self.certificate("v1", newOld: 0.79), Self.certificate("v2", newOld: 0.85)], in: manifest)
    #expect(manifest.certificates.map(\.verdict) == [.uncertified, .certified])
    #expect(manifest.compatibleWith == ["v2"])
    manifest = CompatibilityCertifier.recording([Self.certificate("v1", newOld: 0.85)], in: manifest)
    #expect(manifest.certificates.count == 2 && manifest.compatibleWith.sorted() == ["v1", "v2"])
    manifest = CompatibilityCertifier.recording([Self.certificate("v2", newOld: 0.80)], in: manifest)
    #expect(manifest.compatibleWith == ["v1"], "a failed re-certification withdraws the pair")
  }
}
