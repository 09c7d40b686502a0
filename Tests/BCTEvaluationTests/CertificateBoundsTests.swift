@testable import BCTEvaluation
import BCTModelRepository
import BCTNumerics
import BCTRuntime
import Foundation
import Testing

/// Synthetic embeddings of labelled items: old and new models see the same class
/// centroids through independent noise (less noise = a better model).
struct SyntheticPair {
  var old: Matrix
  var new: Matrix
  var labels: [Int]

  init(count: Int, seed: UInt64, oldNoise: Float, newNoise: Float, classes: Int = 5, dimension: Int = 8) {
    var centroidGenerator = SeededGenerator(seed: 7)
    let centroids = (0..<classes).map { _ in (0..<dimension).map { _ in centroidGenerator.nextGaussian() } }
    var generator = SeededGenerator(seed: seed)
    let labels = (0..<count).map { _ in Int(generator.next() % UInt64(classes)) }
    func embed(_ noise: Float) -> Matrix {
      var values: [Float] = []
      for label in labels {
        let row = centroids[label].map { $0 + noise * generator.nextGaussian() }
        let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
        values += row.map { $0 / norm }
      }
      return Matrix(rows: count, columns: dimension, values: values)
    }
    self.labels = labels
    old = embed(oldNoise)
    new = embed(newNoise)
  }

  var evaluation: PairEvaluation { PairEvaluation.measure(old: old, new: new, labels: labels, seed: 1) }
}

@Suite("Certificate bounds: per-query outcomes, the item bootstrap, verdicts")
struct CertificateBoundsTests {
  /// Average precision and hit of `query` against the gallery items `members` (never itself), by sorting.
  static func reference(_ q: Matrix, _ g: Matrix, _ labels: [Int], query: Int, members: [Int]) -> (hit: Bool, ap: Double)? {
    let scored = members.filter { $0 != query }.map { j -> (Float, Bool) in
      var s: Float = 0
      for c in 0..<q.columns { s += q[query, c] * g[j, c] }
      return (s, labels[j] == labels[query])
    }.sorted { $0.0 > $1.0 || ($0.0 == $1.0 && $0.1 && !$1.1) }
    let relevant = scored.filter(\.1).count
    guard relevant > 0 else { return nil }
    var found = 0
    var sum = 0.0
    for (rank, item) in scored.enumerated() where item.1 {
      found += 1
      sum += Double(found) / Double(rank + 1)
    }
    return (scored[0].1, sum / Double(relevant))
  }

  @Test("per-query outcomes match RetrievalMetrics and a sorting reference; removal effects are exact")
  func outcomesMatchReference() throws {
    let pair = SyntheticPair(count: 90, seed: 3, oldNoise: 1.2, newNoise: 0.8)
    let outcomes = QueryOutcomes.measure(queries: pair.new, gallery: pair.old, labels: pair.labels, neighbours: 10)
    let plain = RetrievalMetrics.evaluate(
      queries: pair.new, queryLabels: pair.labels, gallery: pair.old, galleryLabels: pair.labels, excludeSelf: true)
    #expect(abs(outcomes.top1 - plain.top1) < 1e-12 && abs(outcomes.meanAveragePrecision - plain.meanAveragePrecision) < 1e-12)
    let all = Array(0..<90)
    func summedAP(without removed: Int?) -> Double {
      all.compactMap { Self.reference(pair.new, pair.old, pair.labels, query: $0, members: all.filter { $0 != removed })?.ap }
        .reduce(0, +)
    }
    let total = summedAP(without: nil)
    for j in [0, 17, 44, 89] {
      #expect(abs(outcomes.removalEffect[j] - (total - summedAP(without: j))) < 1e-9, "document \(j)")
    }
    // The neighbour list starts with the nearest document and agrees with the hit.
    for q in 0..<90 where outcomes.scored[q] {
      let first = Int(outcomes.neighbours[q * 10])
      #expect((pair.labels[first] == pair.labels[q]) == (outcomes.hits[q] == 1))
    }
  }

  @Test("the gallery-size curve matches measuring each smaller gallery directly")
  func curveMatchesDirect() {
    let pair = SyntheticPair(count: 1_700, seed: 4, oldNoise: 1.2, newNoise: 0.8)
    let evaluation = pair.evaluation
    #expect(evaluation.curveSizes == [212, 425, 850, 1_700])
    let members = (0..<1_700).filter { Int(evaluation.positions[$0]) < 425 }
    #expect(members.count == 425)
    var hits = 0.0
    var precision = 0.0
    var scored = 0.0
    for q in 0..<1_700 {
      guard let r = Self.reference(pair.new, pair.old, pair.labels, query: q, members: members) else { continue }
      scored += 1
      hits += r.hit ? 1 : 0
      precision += r.ap
    }
    #expect(abs(evaluation.curve[1].top1.newOld - hits / scored) < 1e-12)
    // Average precisions are summed in Float32 by the evaluation and in Double here,
    // in another order: they agree to about 1e-7, far below any figure reported.
    #expect(abs(evaluation.curve[1].meanAveragePrecision.newOld - precision / scored) < 1e-6)
    let full = evaluation.curve[3]
    #expect(full.gallerySize == 1_700 && abs(full.top1.newOld - evaluation.newOld.top1) < 1e-12)
  }

  @Test("the same seed gives the same bounds; another seed other resamples")
  func deterministic() {
    let evaluation = SyntheticPair(count: 400, seed: 5, oldNoise: 1.2, newNoise: 0.9).evaluation
    let a = CriterionBootstrap.draw(evaluation, resamples: 200, seed: 9)
    let b = CriterionBootstrap.draw(evaluation, resamples: 200, seed: 9)
    let c = CriterionBootstrap.draw(evaluation, resamples: 200, seed: 10)
    #expect(a.gains == b.gains && a.slopes == b.slopes && a.gains != c.gains)
    #expect(a.bounds(for: evaluation, confidence: 0.95, catalogueSize: 400)
      == b.bounds(for: evaluation, confidence: 0.95, catalogueSize: 400))
  }

  @Test("coverage: over many independent data sets, the 90% lower bound falls below the true gain about 90% of the time")
  func coverage() async throws {
    // The true gain at this size: the mean estimate over many independent data sets. Seconds of
    // computation, so off the concurrency pool (on 2 cores it would stall the other tests' RPCs).
    let count = 300
    let (estimates, lowers) = try await onDedicatedThread {
      var estimates: [[Double]] = Array(repeating: [], count: 4)
      var lowers: [[Double]] = Array(repeating: [], count: 4)
      for seed in 0..<120 {
        let evaluation = SyntheticPair(count: count, seed: UInt64(seed) + 100, oldNoise: 1.3, newNoise: 1.0).evaluation
        let bounds = CriterionBootstrap.draw(evaluation, resamples: 300, seed: UInt64(seed))
          .bounds(for: evaluation, confidence: 0.9, catalogueSize: count)
        for s in 0..<4 {
          estimates[s].append(bounds.steps[s].estimatePoints)
          lowers[s].append(bounds.steps[s].lowerBoundPoints)
        }
      }
      return (estimates, lowers)
    }
    for s in 0..<4 {
      let truth = estimates[s].reduce(0, +) / Double(estimates[s].count)
      let covered = Double(lowers[s].filter { $0 <= truth }.count) / Double(lowers[s].count)
      // Binomial spread of 120 trials at 0.9 is 0.027: allow about three of it either way.
      #expect(covered >= 0.8 && covered <= 0.985, "step \(CertificateBounds.requiredSteps[s]): coverage \(covered), truth \(truth)")
    }
  }

  @Test("a pair with a small gain and a large variance is refused; the same kind of pair with a small variance is certified")
  func varianceDecides() async throws {
    @Sendable func certificate(count: Int) -> CompatibilityCertificate {
      let evaluation = SyntheticPair(count: count, seed: 11, oldNoise: 1.3, newNoise: 1.0).evaluation
      let bounds = CriterionBootstrap.draw(evaluation, resamples: 300, seed: 0)
        .bounds(for: evaluation, confidence: 0.95, catalogueSize: count)
      return CompatibilityCertificate(
        oldVersion: "v1", oldHeadFingerprint: "h", top1: evaluation.top1, meanAveragePrecision: evaluation.meanAveragePrecision,
        bounds: bounds, marginPoints: 0.5, dataset: "synthetic", split: "validation", examples: count, issuedAt: "t")
    }
    let (small, large) = try await onDedicatedThread { (certificate(count: 150), certificate(count: 3_000)) }
    for (a, b) in zip(small.bounds!.steps, large.bounds!.steps) {
      #expect(a.estimatePoints > 0.5 && b.estimatePoints > 0.5, "\(a.name): both gains exceed the margin (\(a.estimatePoints), \(b.estimatePoints))")
    }
    #expect(small.verdict == .uncertified, "\(small.reasons)")
    #expect(large.verdict == .certified, "\(large.reasons)")
  }

  @Test("a gain that shrinks as the gallery grows is projected down to the catalogue size, never up")
  func projection() {
    let evaluation = SyntheticPair(count: 1_700, seed: 6, oldNoise: 1.3, newNoise: 1.0).evaluation
    let bootstrap = CriterionBootstrap.draw(evaluation, resamples: 200, seed: 0)
    let here = bootstrap.bounds(for: evaluation, confidence: 0.95, catalogueSize: 1_700)
    let far = bootstrap.bounds(for: evaluation, confidence: 0.95, catalogueSize: 1_700 * 64)
    for (a, b) in zip(here.steps, far.steps) {
      #expect(a.projectedPoints == a.estimatePoints, "no projection at the split's own size")
      #expect(b.projectedPoints <= b.estimatePoints + 1e-12, "\(b.name) never credited for growth")
      let expected = b.estimatePoints + min(0, b.slopePointsPerDoubling * 6)
      #expect(abs(b.projectedPoints - expected) < 1e-9, "\(b.name): six doublings along the slope")
    }
  }

  @Test("new queries crowding onto a few old documents (hubs) widen the top-1 bounds by the design effect")
  func hubsWidenTopOne() {
    // New queries sit almost on their class centre: each class's queries share one nearest old document.
    let hubby = SyntheticPair(count: 600, seed: 12, oldNoise: 1.0, newNoise: 0.02).evaluation
    let plain = SyntheticPair(count: 600, seed: 12, oldNoise: 1.0, newNoise: 0.9).evaluation
    #expect(hubby.hubDesignEffect > 20, "\(hubby.hubDesignEffect)")
    #expect(plain.hubDesignEffect < 3, "\(plain.hubDesignEffect)")
    let bootstrap = CriterionBootstrap.draw(hubby, resamples: 200, seed: 0)
    let bounds = bootstrap.bounds(for: hubby, confidence: 0.95, catalogueSize: 600)
    #expect(bounds.hubDesignEffect == hubby.hubDesignEffect)
    for (s, step) in bounds.steps.enumerated() {
      let resampled = bootstrap.gains[s]
      let mean = resampled.reduce(0, +) / Double(resampled.count)
      let spread = mean - CriterionBootstrap.lowerQuantile(resampled, confidence: 0.95)
      let widening = step.metric == "top-1" ? hubby.hubDesignEffect.squareRoot() : 1
      #expect(abs((step.projectedPoints - step.lowerBoundPoints) - spread * widening) < 1e-9, "\(step.name)")
    }
  }
}
