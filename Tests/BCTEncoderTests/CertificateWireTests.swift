import BCTEncoder
import BCTModelRepository
import BCTProto
import BCTTestSupport
import Foundation
import SwiftProtobuf
import Testing

@Suite("Certificates on the wire")
struct CertificateWireTests {
  @Test("a certificate's bounds and gallery-size curve survive ListModels' encoding; a legacy one has none")
  func roundTrip() throws {
    var bounds = CertificateFixtures.bounds(lowerBoundPoints: 0.8)
    bounds.steps[1].slopePointsPerDoubling = -0.25
    bounds.galleryCurve = [.init(gallerySize: 750, top1: .init(oldOld: 0.8, newOld: 0.83, newNew: 0.86),
                                 meanAveragePrecision: .init(oldOld: 0.7, newOld: 0.74, newNew: 0.78))]
    let certificate = CompatibilityCertificate(
      oldVersion: "v1", oldHeadFingerprint: "h1", top1: .init(oldOld: 0.8, newOld: 0.82, newNew: 0.85),
      meanAveragePrecision: .init(oldOld: 0.7, newOld: 0.73, newNew: 0.77), bounds: bounds, marginPoints: 0.5,
      dataset: "d", split: "validation", examples: 6000, issuedAt: "t")
    let bytes: [UInt8] = try ModelInfoMapping.wire(certificate).serializedBytes()
    let parsed = try Bct_V1_CompatibilityCertificate(serializedBytes: bytes)
    #expect(parsed.verdict == .certified && parsed.hasBounds)
    let b = parsed.bounds
    #expect(b.method == "fixture" && b.resamples == 1000 && b.confidence == 0.95 && b.seed == 0 && b.catalogueSize == 10_000)
    #expect(b.steps.map { "\($0.metric) \($0.step)" } == ["top-1 cross", "top-1 backfill", "mAP cross", "mAP backfill"])
    #expect(b.steps.allSatisfy { $0.lowerBoundPoints == 0.8 && $0.estimatePoints == 1.8 } && b.steps[1].slopePointsPerDoubling == -0.25)
    #expect(b.galleryCurve.count == 1 && b.galleryCurve[0].gallerySize == 750 && b.galleryCurve[0].top1.newOld == 0.83)

    var legacy = certificate
    legacy.bounds = nil
    let legacyWire = try Bct_V1_CompatibilityCertificate(serializedBytes: try ModelInfoMapping.wire(legacy).serializedBytes() as [UInt8])
    #expect(!legacyWire.hasBounds)
  }
}
