import BCTModelRepository
import Foundation
import Testing

@Suite("Compatibility certificates and the pair rule")
struct CompatibilityCertificateTests {
  typealias Figures = CompatibilityCertificate.Figures

  static func certificate(_ top1: Figures, _ mAP: Figures, margin: Double = 0.5, old: String = "v1", fingerprint: String = "h1") -> CompatibilityCertificate {
    CompatibilityCertificate(
      oldVersion: old, oldHeadFingerprint: fingerprint, top1: top1, meanAveragePrecision: mAP, marginPoints: margin,
      dataset: "d", split: "validation", examples: 100, issuedAt: "2026-01-01T00:00:00Z")
  }

  @Test("every step above the margin on both metrics certifies")
  func certifies() {
    let c = Self.certificate(.init(oldOld: 0.80, newOld: 0.81, newNew: 0.85), .init(oldOld: 0.70, newOld: 0.72, newNew: 0.75))
    #expect(c.verdict == .certified && c.reasons.isEmpty)
    #expect(abs(c.top1.crossGainPoints - 1) < 1e-9 && abs(c.meanAveragePrecision.backfillGainPoints - 3) < 1e-9)
  }

  @Test("a gain exactly equal to the margin is a tie, and a tie fails")
  func tieWithMarginFails() {
    // 80.5 - 80.0 = 0.5 points: not strictly more than the 0.5-point margin.
    let c = Self.certificate(.init(oldOld: 0.800, newOld: 0.805, newNew: 0.85), .init(oldOld: 0.70, newOld: 0.72, newNew: 0.75))
    #expect(c.verdict == .uncertified)
    #expect(c.reasons.count == 1 && c.reasons[0].contains("top-1: new queries on old documents 80.50 vs old on old 80.00"))
  }

  @Test("margin 0 still demands strict inequalities: equal figures fail")
  func strictWithoutMargin() {
    let tie = Self.certificate(.init(oldOld: 0.8, newOld: 0.8, newNew: 0.9), .init(oldOld: 0.7, newOld: 0.75, newNew: 0.8), margin: 0)
    #expect(tie.verdict == .uncertified)
    let tiny = Self.certificate(.init(oldOld: 0.8, newOld: 0.8001, newNew: 0.9), .init(oldOld: 0.7, newOld: 0.75, newNew: 0.8), margin: 0)
    #expect(tiny.verdict == .certified)
  }

  @Test("each failing step is named: cross gain and backfill gain, per metric")
  func reasons() {
    // mAP new/new below new/old: backfilling would make search worse.
    let c = Self.certificate(.init(oldOld: 0.80, newOld: 0.79, newNew: 0.85), .init(oldOld: 0.70, newOld: 0.78, newNew: 0.77))
    #expect(c.verdict == .uncertified)
    #expect(c.reasons.count == 2)
    #expect(c.reasons[0].hasPrefix("top-1: new queries on old documents 79.00 vs old on old 80.00 (gain -1.00"))
    #expect(c.reasons[1].hasPrefix("mAP: new on new documents 77.00 vs new queries on old documents 78.00 (gain -1.00"))
  }

  static func manifest(_ version: String, lineage: String, head: String, certificates: [CompatibilityCertificate]? = nil) -> Manifest {
    Manifest(
      version: version, architecture: .init(name: "mlp", parameters: [:]), inputShape: [1, 2, 2],
      inputNormalization: .fashionMNIST, embeddingDim: 4, head: .init(kind: "linear", fingerprint: head, numClasses: 2),
      lineage: lineage, parentVersion: nil, compatibleWith: [],
      training: .init(dataset: "d", seed: 0, classes: nil, fraction: 1, compatibilityObjective: "none", epochs: 1,
                      batchSize: 1, optimizer: "adam", learningRate: 0.001, options: [:], examples: 1, seconds: 0),
      evaluations: [], createdAt: "2026-01-01T00:00:00Z", compatibility: certificates)
  }

  @Test("pair rule: same, certified (either direction), uncertified, incompatible, stale certificate")
  func pairRule() {
    let pass = Self.certificate(.init(oldOld: 0.8, newOld: 0.82, newNew: 0.85), .init(oldOld: 0.7, newOld: 0.72, newNew: 0.75))
    let fail = Self.certificate(.init(oldOld: 0.8, newOld: 0.7, newNew: 0.85), .init(oldOld: 0.7, newOld: 0.72, newNew: 0.75))
    let v1 = Self.manifest("v1", lineage: "L", head: "h1")
    let v2 = Self.manifest("v2", lineage: "L", head: "h2", certificates: [pass])
    let v3 = Self.manifest("v3", lineage: "L", head: "h3", certificates: [fail])
    let legacy = Self.manifest("v4", lineage: "L", head: "h4")
    let other = Self.manifest("w1", lineage: "M", head: "h5", certificates: [pass])
    #expect(PairCompatibility.of(v1, v1) == .same)
    #expect(PairCompatibility.of(v2, v1) == .certified && PairCompatibility.of(v1, v2) == .certified)
    #expect(PairCompatibility.of(v3, v1) == .uncertified)
    #expect(PairCompatibility.of(legacy, v1) == .uncertified)
    #expect(PairCompatibility.of(v3, v2) == .uncertified, "no certificate for v2 at all")
    #expect(PairCompatibility.of(other, v1) == .incompatible, "a certificate never crosses lineages")
    // v1's head changed after the certificate was issued: the evidence is stale.
    let v1Retrained = Self.manifest("v1", lineage: "L", head: "h1-new")
    #expect(PairCompatibility.of(v2, v1Retrained) == .uncertified)
  }

  @Test("manifests round-trip certificates and older manifests without them still decode")
  func manifestJSON() throws {
    let pass = Self.certificate(.init(oldOld: 0.8, newOld: 0.82, newNew: 0.85), .init(oldOld: 0.7, newOld: 0.72, newNew: 0.75))
    var manifest = Self.manifest("v2", lineage: "L", head: "h2", certificates: [pass])
    manifest.training.validation = .init(fraction: 0.1, seed: 0, examples: 6000)
    let data = try manifest.encoded()
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("\"compatibility\"") && text.contains("\"margin_points\" : 0.5") && text.contains("\"old_old\""))
    #expect(try Manifest.decode(data) == manifest)
    var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    object.removeValue(forKey: "compatibility")
    var training = object["training"] as! [String: Any]
    training.removeValue(forKey: "validation")
    object["training"] = training
    let legacy = try Manifest.decode(try JSONSerialization.data(withJSONObject: object))
    #expect(legacy.compatibility == nil && legacy.certificates.isEmpty && legacy.training.validation == nil)
  }
}
