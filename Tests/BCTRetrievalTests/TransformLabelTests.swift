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

  @Test func theLabelIsInTheTargetsSpaceWhenUsableAndMarkedWhenUncertified() throws {
    let table = ModelTable(Self.listing(usable: true, certified: true))
    let label = try #require(table.versions["w1<-v1"])
    #expect(label.dimension == 96 && label.inputShape == [1, 28, 28] && label.uncertifiedTransform == nil)
    let policy = VersionPolicy(table: table)
    #expect(policy.relation("w1", "w1<-v1") == .certified)
    #expect(policy.relation("v1", "w1<-v1") == .incompatible)
    #expect(policy.relation("x1", "w1<-v1") == .incompatible)
    #expect(try policy.defaultQueryVersion(documents: ["w1<-v1"]) == "w1")
    // An unusable transform is not listed at all; a usable, uncertified one is listed
    // (an index switched to it on the operator's word stays searchable), marked so.
    let unusable = ModelTable(Self.listing(usable: false, certified: true))
    #expect(unusable.versions["w1<-v1"] == nil)
    #expect(VersionPolicy(table: unusable).relation("w1", "w1<-v1") == .incompatible)
    let uncertified = ModelTable(Self.listing(usable: true, certified: false))
    #expect(uncertified.versions["w1<-v1"]?.uncertifiedTransform == true)
    #expect(VersionPolicy(table: uncertified).relation("v1", "w1<-v1") == .incompatible)
  }
}
