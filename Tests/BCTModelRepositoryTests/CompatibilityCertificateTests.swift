import BCTModelRepository
import BCTTestSupport
import Foundation
import Testing

@Suite("Compatibility certificates and the pair rule")
struct CompatibilityCertificateTests {
  typealias Figures = CompatibilityCertificate.Figures

  static func certificate(
    _ top1: Figures, _ mAP: Figures, margin: Double = 0.5, old: String = "v1", fingerprint: String = "h1",
    bounds: CertificateBounds? = CertificateFixtures.bounds(lowerBoundPoints: 1)
  ) -> CompatibilityCertificate {
    CompatibilityCertificate(
      oldVersion: old, oldHeadFingerprint: fingerprint, top1: top1, meanAveragePrecision: mAP, bounds: bounds,
      marginPoints: margin, dataset: "d", split: "validation", examples: 100, issuedAt: "2026-01-01T00:00:00Z")
  }

  static let figures = (Figures(oldOld: 0.80, newOld: 0.82, newNew: 0.85), Figures(oldOld: 0.70, newOld: 0.72, newNew: 0.75))

  /// Bounds at `lower` points on every step but `overrides`.
  static func bounds(_ lower: Double, overrides: [String: Double] = [:]) -> CertificateBounds {
    var b = CertificateFixtures.bounds(lowerBoundPoints: lower)
    for i in b.steps.indices { if let v = overrides[b.steps[i].name] { b.steps[i].lowerBoundPoints = v } }
    return b
  }

  @Test("every lower bound above the margin certifies")
  func certifies() {
    let c = Self.certificate(Self.figures.0, Self.figures.1)
    #expect(c.verdict == .certified && c.reasons.isEmpty)
    #expect(abs(c.top1.crossGainPoints - 2) < 1e-9 && abs(c.meanAveragePrecision.backfillGainPoints - 3) < 1e-9)
    #expect(c.summary(newVersion: "v2").contains("lower bounds top-1 +1.00/+1.00, mAP +1.00/+1.00"))
  }

  @Test("a lower bound exactly equal to the margin is a tie, and a tie fails; NaN fails")
  func tieWithMarginFails() {
    let c = Self.certificate(Self.figures.0, Self.figures.1, bounds: Self.bounds(1, overrides: ["top-1 cross gain": 0.5]))
    #expect(c.verdict == .uncertified)
    #expect(c.reasons.count == 1 && c.reasons[0].hasPrefix("top-1 cross gain: lower bound +0.50 (estimate +2.00"))
    let nan = Self.certificate(Self.figures.0, Self.figures.1, bounds: Self.bounds(1, overrides: ["mAP backfill gain": .nan]))
    #expect(nan.verdict == .uncertified)
  }

  @Test("margin 0 still demands strictly positive bounds")
  func strictWithoutMargin() {
    #expect(Self.certificate(Self.figures.0, Self.figures.1, margin: 0, bounds: Self.bounds(0)).verdict == .uncertified)
    #expect(Self.certificate(Self.figures.0, Self.figures.1, margin: 0, bounds: Self.bounds(0.0001)).verdict == .certified)
  }

  @Test("each failing step is named; point estimates above the margin do not rescue a low bound")
  func reasons() {
    // Point gains are 2 and 3 points, far above the margin; the bounds are not.
    let c = Self.certificate(Self.figures.0, Self.figures.1,
                             bounds: Self.bounds(1, overrides: ["top-1 cross gain": -0.3, "mAP backfill gain": 0.2]))
    #expect(c.verdict == .uncertified && c.reasons.count == 2)
    #expect(c.reasons[0].hasPrefix("top-1 cross gain: lower bound -0.30"))
    #expect(c.reasons[1].hasPrefix("mAP backfill gain: lower bound +0.20"))
  }

  @Test("bounds missing a step, or with a meaningless confidence, never certify")
  func incompleteBounds() {
    var missing = Self.bounds(2)
    missing.steps.removeLast()
    let c = Self.certificate(Self.figures.0, Self.figures.1, bounds: missing)
    #expect(c.verdict == .uncertified && c.reasons == ["mAP backfill gain: no bound recorded"])
    var level = Self.bounds(2)
    level.confidence = 1
    #expect(Self.certificate(Self.figures.0, Self.figures.1, bounds: level).verdict == .uncertified)
  }

  @Test("a certificate without bounds (issued before them) is uncertified and says to re-certify, even if stored as certified")
  func legacyWithoutBounds() throws {
    let c = Self.certificate(Self.figures.0, Self.figures.1, bounds: nil)
    #expect(c.verdict == .uncertified && c.reasons.count == 1 && c.reasons[0].contains("re-certify with bct eval --certify"))
    // A manifest written by an older bct: point figures and "verdict": "certified", no bounds.
    let pass = Self.certificate(Self.figures.0, Self.figures.1)
    var object = try JSONSerialization.jsonObject(with: try Self.manifest("v2", lineage: "L", head: "h2", certificates: [pass]).encoded()) as! [String: Any]
    var certificates = object["compatibility"] as! [[String: Any]]
    certificates[0].removeValue(forKey: "bounds")
    #expect(certificates[0]["verdict"] as? String == "certified")
    object["compatibility"] = certificates
    let legacy = try Manifest.decode(try JSONSerialization.data(withJSONObject: object))
    let decoded = try #require(legacy.certificates.first)
    #expect(decoded.bounds == nil && decoded.verdict == .uncertified && decoded.reasons[0].contains("re-certify"))
    #expect(PairCompatibility.of(legacy, Self.manifest("v1", lineage: "L", head: "h1")) == .uncertified)
    #expect(!legacy.certifies(Self.manifest("v1", lineage: "L", head: "h1")))
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
    let pass = Self.certificate(Self.figures.0, Self.figures.1)
    let fail = Self.certificate(Self.figures.0, Self.figures.1, bounds: Self.bounds(-2))
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

  @Test("manifests round-trip certificates with their bounds and curve; older manifests without certificates still decode")
  func manifestJSON() throws {
    var bounds = Self.bounds(1)
    bounds.galleryCurve = [.init(gallerySize: 750, top1: Self.figures.0, meanAveragePrecision: Self.figures.1),
                           .init(gallerySize: 6000, top1: Self.figures.0, meanAveragePrecision: Self.figures.1)]
    bounds.seed = 42
    let pass = Self.certificate(Self.figures.0, Self.figures.1, bounds: bounds)
    var manifest = Self.manifest("v2", lineage: "L", head: "h2", certificates: [pass])
    manifest.training.validation = .init(fraction: 0.1, seed: 0, examples: 6000)
    let data = try manifest.encoded()
    let text = String(decoding: data, as: UTF8.self)
    #expect(text.contains("\"compatibility\"") && text.contains("\"margin_points\" : 0.5") && text.contains("\"old_old\""))
    #expect(try Manifest.decode(data) == manifest)
    #expect(text.contains("\"lower_bound_points\"") && text.contains("\"gallery_curve\"") && text.contains("\"catalogue_size\" : 10000"))
    var object = try JSONSerialization.jsonObject(with: data) as! [String: Any]
    object.removeValue(forKey: "compatibility")
    var training = object["training"] as! [String: Any]
    training.removeValue(forKey: "validation")
    object["training"] = training
    let legacy = try Manifest.decode(try JSONSerialization.data(withJSONObject: object))
    #expect(legacy.compatibility == nil && legacy.certificates.isEmpty && legacy.training.validation == nil)
  }
}
