import BCTEvaluation
import BCTModelRepository
import BCTNumerics

/// How the scenario matrix studies certificates: every pair is bounded on the whole
/// validation split (projected to the test split's size, the catalogue the test
/// checks) and, for choosing the defaults without the test split, on half of the
/// validation split (projected to the other half's size) with the other half as the
/// check. Verdicts are kept for a grid of confidence levels and margins.
public struct CertificationStudy: Sendable, Codable, Equatable {
  public var confidences: [Double] = [0.8, 0.9, 0.95, 0.975, 0.99]
  public var margins: [Double] = [0, 0.25, 0.5, 1]
  public var resamples = CompatibilityCertifier.defaultResamples
  public var seed: UInt64 = 0
  /// A pair counts toward power when every step holds on the check data by at least this much.
  public var powerThresholdPoints = 1.0
  /// The method whose power picks the defaults (the trainer's default objective).
  public var defaultMethod = "hybrid"

  public init() {}

  /// The certification record of one pair, from unit-norm validation embeddings;
  /// `cross` replaces new queries on old documents by an adapter mode's search
  /// (rows aligned with the items).
  func certify(
    old: Matrix, new: Matrix, labels: [Int], testExamples: Int, pair: PairCertification.Pair,
    cross: (queries: Matrix, gallery: Matrix)? = nil
  ) -> PairCertification {
    let whole = PairEvaluation.measure(old: old, new: new, labels: labels, seed: seed, cross: cross)
    let bootstrap = CriterionBootstrap.draw(whole, resamples: resamples, seed: seed)
    var generator = SeededGenerator(seed: seed ^ 0x6861_6C76_6573)
    let order = Array(0..<labels.count).shuffled(using: &generator)
    let half = labels.count / 2
    let (a, b) = (order[..<half].sorted(), order[half...].sorted())
    let (oldA, newA) = (old.selecting(a), new.selecting(a))
    func part(_ rows: [Int]) -> (queries: Matrix, gallery: Matrix)? {
      cross.map { ($0.queries.selecting(rows), $0.gallery.selecting(rows)) }
    }
    let halfEvaluation = PairEvaluation.measure(
      old: oldA, new: newA, labels: a.map { labels[$0] }, seed: seed, cross: part(a))
    let halfBootstrap = CriterionBootstrap.draw(halfEvaluation, resamples: resamples, seed: seed)
    return PairCertification(
      pair: pair,
      bounds: bootstrap.bounds(
        for: whole, confidence: CompatibilityCertifier.defaultConfidence, catalogueSize: testExamples),
      verdicts: verdicts(bootstrap, whole, catalogueSize: testExamples),
      halfVerdicts: verdicts(halfBootstrap, halfEvaluation, catalogueSize: b.count),
      halfCheckGains: Self.gains(
        old: old.selecting(b), new: new.selecting(b), labels: b.map { labels[$0] }, cross: part(b)))
  }

  /// The verdict at every (confidence, margin) of the grid.
  private func verdicts(_ bootstrap: CriterionBootstrap, _ evaluation: PairEvaluation, catalogueSize: Int) -> [PairCertification.Verdict] {
    confidences.flatMap { confidence in
      let bounds = bootstrap.bounds(for: evaluation, confidence: confidence, catalogueSize: catalogueSize)
      return margins.map { margin in
        PairCertification.Verdict(confidence: confidence, marginPoints: margin,
              certified: CompatibilityCertificate.failedSteps(bounds, marginPoints: margin).isEmpty)
      }
    }
  }

  /// The four steps' gains in points (top-1 cross, backfill, mAP cross, backfill), measured plainly.
  static func gains(old: Matrix, new: Matrix, labels: [Int], cross: (queries: Matrix, gallery: Matrix)? = nil) -> [Double] {
    func score(_ q: Matrix, _ g: Matrix) -> RetrievalScores {
      RetrievalMetrics.evaluate(queries: q, queryLabels: labels, gallery: g, galleryLabels: labels, excludeSelf: true)
    }
    let (oo, no, nn) = (score(old, old), score(cross?.queries ?? new, cross?.gallery ?? old), score(new, new))
    return [(no.top1 - oo.top1) * 100, (nn.top1 - no.top1) * 100,
            (no.meanAveragePrecision - oo.meanAveragePrecision) * 100,
            (nn.meanAveragePrecision - no.meanAveragePrecision) * 100]
  }
}

extension Matrix {
  /// The rows at `indices`, in that order.
  func selecting(_ indices: [Int]) -> Matrix {
    var values: [Float] = []
    values.reserveCapacity(indices.count * columns)
    for i in indices { values += self.values[(i * columns)..<((i + 1) * columns)] }
    return Matrix(rows: indices.count, columns: columns, values: values)
  }
}
