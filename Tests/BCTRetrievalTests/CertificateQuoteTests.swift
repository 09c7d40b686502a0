import BCTCollection
import BCTProto
import BCTRetrieval
import Foundation
import Testing

@Suite("Certificate quotes in refusals")
struct CertificateQuoteTests {
  static func wire(bounds: Bool) -> Bct_V1_CompatibilityCertificate {
    var c = Bct_V1_CompatibilityCertificate()
    c.oldVersion = "v1"
    c.top1 = .with { $0.oldOld = 0.8; $0.newOld = 0.81; $0.newNew = 0.85 }
    c.meanAveragePrecision = .with { $0.oldOld = 0.7; $0.newOld = 0.72; $0.newNew = 0.75 }
    c.marginPoints = 0.5
    c.split = "validation split"
    c.verdict = .uncertified
    c.reasons = ["top-1 cross gain: lower bound -0.40 (estimate +1.00, +0.60 at 100000 documents) needs > 0.50"]
    if bounds {
      c.bounds = .with { b in
        b.method = "item bootstrap"
        b.resamples = 1000
        b.confidence = 0.95
        b.seed = 7
        b.catalogueSize = 100_000
        b.steps = [("top-1", "cross", -0.4), ("top-1", "backfill", 2.5), ("mAP", "cross", 1.5), ("mAP", "backfill", 2.0)].map { s in
          .with { $0.metric = s.0; $0.step = s.1; $0.lowerBoundPoints = s.2 }
        }
      }
    }
    return c
  }

  @Test("a refusal quotes the bounds: each lower bound, the level, method, resamples, seed and catalogue size")
  func refusalQuotesBounds() throws {
    let quote = CertificateQuote(Self.wire(bounds: true))
    let bounds = try #require(quote.bounds)
    #expect(bounds.contains("lower bounds top-1 -0.40/+2.50, mAP +1.50/+2.00") && bounds.contains("95% item bootstrap"))
    #expect(bounds.contains("1000 resamples, seed 7, projected to 100000 documents"))
    let table = ModelTable(versions: [
      "v1": VersionInfo(version: "v1", lineage: "A", dimension: 4, inputShape: [4], order: 0, relations: ["v2": .uncertified], certificates: [:]),
      "v2": VersionInfo(version: "v2", lineage: "A", dimension: 4, inputShape: [4], order: 1, relations: ["v1": .uncertified],
                        certificates: ["v1": quote]),
    ], defaultVersion: "v2")
    let text = VersionPolicy(table: table).explain("v2", "v1")
    #expect(text.contains("NOT certified") && text.contains("lower bounds top-1 -0.40") && text.contains("needs > 0.50"), "\(text)")
    #expect(CertificateQuote(Self.wire(bounds: false)).bounds == nil)
  }

  @Test("the listing cache written before bounds existed still loads")
  func oldCacheLoads() throws {
    let old = #"{"passed":false,"figures":"top-1 80.0 -> 81.0 -> 85.0","reasons":["r"]}"#
    let quote = try JSONDecoder().decode(CertificateQuote.self, from: Data(old.utf8))
    #expect(quote.bounds == nil && quote.reasons == ["r"])
    let again = try JSONDecoder().decode(CertificateQuote.self, from: try JSONEncoder().encode(CertificateQuote(Self.wire(bounds: true))))
    #expect(again.bounds?.contains("seed 7") == true)
  }
}
