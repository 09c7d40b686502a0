import BCTCollection
import BCTProto
import BCTRetrieval
import Testing

/// Transformed vectors' label and the model table's view of it: listed in the
/// target's space only while the encoder lists the transform as certified and usable.
@Suite struct TransformLabelTests {
  static func listing(usable: Bool, certified: Bool) -> Bct_V1_ListModelsResponse {
    var response = Bct_V1_ListModelsResponse()
    for (version, lineage, dim) in [("v1", "L1", 128), ("w1", "L2", 96), ("x1", "L3", 64)] {
      var info = Bct_V1_ModelInfo()
      info.version = version
      info.lineage = lineage
      info.embeddingDim = Int32(dim)
      info.inputShape = [1, 28, 28]
      info.compatibility = ["v1", "w1", "x1"].filter { $0 != version }.reduce(into: [:]) { $0[$1] = .incompatible }
      response.models.append(info)
    }
    var adapter = Bct_V1_AdapterInfo()
    adapter.oldVersion = "v1"
    adapter.mode = .transformedDocuments
    adapter.usable = usable
    adapter.certificate.verdict = certified ? .certified : .uncertified
    response.models[1].adapters = [adapter]
    return response
  }

  @Test func labelsParseAndRoundTrip() {
    #expect(TransformLabel.make(target: "w1", source: "v1") == "w1<-v1")
    #expect(TransformLabel.parse("w1<-v1")! == ("w1", "v1"))
    for plain in ["v1", "<-v1", "w1<-", ""] { #expect(TransformLabel.parse(plain) == nil, "\(plain)") }
  }

  @Test func theLabelIsInTheTargetsSpaceOnlyWhenCertifiedAndUsable() throws {
    let table = ModelTable(Self.listing(usable: true, certified: true))
    let label = try #require(table.versions["w1<-v1"])
    #expect(label.dimension == 96 && label.inputShape == [1, 28, 28])
    let policy = VersionPolicy(table: table)
    #expect(policy.relation("w1", "w1<-v1") == .certified)
    #expect(policy.relation("v1", "w1<-v1") == .incompatible)
    #expect(policy.relation("x1", "w1<-v1") == .incompatible)
    #expect(try policy.defaultQueryVersion(documents: ["w1<-v1"]) == "w1")
    for (usable, certified) in [(false, true), (true, false)] {
      let without = ModelTable(Self.listing(usable: usable, certified: certified))
      #expect(without.versions["w1<-v1"] == nil)
      #expect(VersionPolicy(table: without).relation("w1", "w1<-v1") == .incompatible)
    }
  }
}
