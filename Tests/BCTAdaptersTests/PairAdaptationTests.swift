import BCTAdapterFitting
import BCTAdapters
import BCTEvaluation
import BCTModelRepository
import BCTNumerics
import Foundation
import Testing

/// Two synthetic "models" of the same items: class clusters in unrelated spaces,
/// the new one tighter. Adapters must connect them and each mode be certified only
/// when it holds.
@Suite struct PairAdaptationTests {
  /// Unit embeddings of `labels` around class centres (drawn from `centreSeed`) in
  /// `dim` dimensions, with noise drawn from `noiseSeed`.
  static func space(labels: [Int], dim: Int, noise: Float, centreSeed: UInt64, noiseSeed: UInt64) -> Matrix {
    var centreGenerator = SeededGenerator(seed: centreSeed)
    let centres = Matrix.gaussian(rows: 10, columns: dim, std: 1, using: &centreGenerator).l2NormalizedRows()
    var generator = SeededGenerator(seed: noiseSeed)
    var rows = Matrix.gaussian(rows: labels.count, columns: dim, std: noise / Float(dim).squareRoot(), using: &generator)
    for (i, label) in labels.enumerated() {
      for c in 0..<dim { rows[i, c] += centres[label, c] }
    }
    return rows.l2NormalizedRows()
  }

  /// `count` items seen by both models (old: 24 dimensions, new: 32, unrelated spaces).
  static func embeddings(count: Int, oldNoise: Float, newNoise: Float, items: UInt64) -> PairAdaptation.Embeddings {
    var generator = SeededGenerator(seed: items)
    let labels = (0..<count).map { _ in Int(generator.next() % 10) }
    return .init(
      old: space(labels: labels, dim: 24, noise: oldNoise, centreSeed: 1, noiseSeed: items &+ 100),
      new: space(labels: labels, dim: 32, noise: newNoise, centreSeed: 2, noiseSeed: items &+ 200), labels: labels)
  }

  static func fit(oldNoise: Float, newNoise: Float, kinds: [AdapterKind]) -> [PairAdaptation.Fitted] {
    let adaptation = PairAdaptation(
      selection: AdapterSelection(kinds: kinds, seed: 0),
      settings: .init(marginPoints: 0.5, confidence: 0.95, resamples: 200, seed: 0, catalogueSize: 4000))
    return adaptation.fit(
      directions: [.query, .document], old: ("v1", "fingerprint"),
      calibration: embeddings(count: 3000, oldNoise: oldNoise, newNoise: newNoise, items: 1),
      certification: embeddings(count: 2000, oldNoise: oldNoise, newNoise: newNoise, items: 2),
      dataset: "synthetic", split: "held out")
  }

  @Test func bothModesAreCertifiedWhenTheNewSpaceIsClearlyBetter() throws {
    let fitted = Self.fit(oldNoise: 1.6, newNoise: 1.3, kinds: [.procrustes])
    #expect(fitted.map(\.direction) == [.query, .document])
    for item in fitted {
      let c = item.certificate
      #expect(item.adapter.inputDim == (item.direction == .query ? 32 : 24))
      #expect(c.verdict == .certified, "\(item.direction): \(c.summary(newVersion: "v2")) hubs \(c.bounds?.hubDesignEffect ?? 0)")
      #expect(c.top1.newOld > c.top1.oldOld && c.top1.newNew > c.top1.newOld)
    }
  }

  @Test("the query adapter's MLP is tried at each class-term weight (the transform at the first), each a candidate")
  func mlpCandidatesPerClassWeight() throws {
    let pairs = Self.embeddings(count: 1500, oldNoise: 1.4, newNoise: 1.0, items: 3)
    var selection = AdapterSelection(kinds: [.mlp], seed: 0)
    selection.maximumEpochs = 2
    let outcome = try #require(selection.fit(direction: .query, old: pairs.old, new: pairs.new, labels: pairs.labels))
    #expect(outcome.candidates.map(\.setting).map { $0.contains("class weight 0.1") } == [true, false])
    #expect(outcome.candidates.map(\.setting).map { $0.contains("class weight 1.0") } == [false, true])
    #expect(outcome.chosen.score == outcome.candidates.map(\.score).max())
    var ownClass = selection
    ownClass.itemsAreTheirOwnClass = true
    let perPair = try #require(ownClass.fit(direction: .query, old: pairs.old, new: pairs.new, labels: Array(0..<1500)))
    #expect(perPair.candidates.count == 1, "items without classes: the class term has nothing to weigh")
    let transform = try #require(selection.fit(direction: .document, old: pairs.old, new: pairs.new, labels: pairs.labels))
    #expect(transform.candidates.map(\.setting).allSatisfy { $0.contains("class weight 0.1") }, "documents: no strong class term")
  }

  @Test func aTinyUpgradeIsRefusedInEveryMode() throws {
    for item in Self.fit(oldNoise: 1.2, newNoise: 1.19, kinds: [.procrustes, .affine]) {
      #expect(item.certificate.verdict == .uncertified, "\(item.direction): \(item.certificate.summary(newVersion: "v2"))")
    }
  }
}
