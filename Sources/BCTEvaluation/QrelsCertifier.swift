import BCTModelRepository
import BCTNumerics
import Foundation

/// Certificates under per-pair relevance (queries and documents apart, judged by
/// qrels), as text retrieval is judged: the criterion Q_old/D_old < cross <
/// Q_new/D_new on recall@10 and nDCG@10, each step bounded from below by a paired
/// bootstrap over queries. Top-1 (precision at 1), mAP and MRR@10 are reported beside.
///
/// What it does not do: resample documents or project to a larger corpus. The
/// judged documents are what they are; a larger corpus adds distractors, so the
/// catalogue size recorded is the corpus searched, and the bounds promise nothing
/// beyond it.
public enum QrelsCertifier {
  /// The metrics the verdict rests on.
  public static let boundedMetrics = ["recall@10", "nDCG@10"]
  /// How the bounds were computed.
  public static let method = "paired query bootstrap (percentile), per-pair relevance"

  /// Query and gallery embeddings of one search.
  public typealias Search = (queries: Matrix, gallery: Matrix)

  /// The certificate of `cross` (new queries on old documents, or another mode's
  /// search) between `oldOld` and `newNew`, under `judgments`.
  public static func certificate(
    old: (version: String, headFingerprint: String), oldOld: Search, cross: Search, newNew: Search,
    judgments: RelevanceJudgments, dataset: String, split: String, settings: CompatibilityCertifier.Settings
  ) -> CompatibilityCertificate {
    let scores = [oldOld, cross, newNew].map {
      PerPairScores.evaluate(queries: $0.queries, gallery: $0.gallery, judgments: judgments)
    }
    func figures(_ index: Int) -> CompatibilityCertificate.Figures {
      let values = scores.map { $0.named[index].values }
      return .init(oldOld: scores[0].mean(values[0]), newOld: scores[1].mean(values[1]), newNew: scores[2].mean(values[2]))
    }
    let names = scores[0].named.map(\.name)
    var perPair: [String: CompatibilityCertificate.Figures] = [:]
    for index in 2..<names.count { perPair[names[index]] = figures(index) }
    let steps = bounds(scores, names: names, settings: settings)
    var certificate = CompatibilityCertificate(
      oldVersion: old.version, oldHeadFingerprint: old.headFingerprint, top1: figures(0), meanAveragePrecision: figures(1),
      bounds: CertificateBounds(
        method: method, resamples: settings.resamples, confidence: settings.confidence, seed: settings.seed,
        catalogueSize: cross.gallery.rows, steps: steps, galleryCurve: [], hubDesignEffect: nil, relevance: "qrels"),
      marginPoints: settings.marginPoints, dataset: dataset, split: split,
      examples: scores[0].scored.filter { $0 }.count, issuedAt: ISO8601DateFormatter().string(from: Date()))
    certificate.perPair = perPair
    return certificate
  }

  /// The cross and backfill steps of each bounded metric: estimate and one-sided lower
  /// bound, from `settings.resamples` draws of the scored queries with replacement.
  static func bounds(
    _ scores: [PerPairScores], names: [String], settings: CompatibilityCertifier.Settings
  ) -> [CertificateBounds.Step] {
    let scoredQueries = scores[0].scored.indices.filter { scores[0].scored[$0] }
    var generator = SeededGenerator(seed: settings.seed ^ 0x7172_656C_73)
    let samples = (0..<settings.resamples).map { _ in
      scoredQueries.map { _ in scoredQueries[Int.random(in: 0..<scoredQueries.count, using: &generator)] }
    }
    var steps: [CertificateBounds.Step] = []
    for metric in boundedMetrics {
      guard let index = names.firstIndex(of: metric) else { continue }
      let values = scores.map { $0.named[index].values }
      for (step, low, high) in [("cross", 0, 1), ("backfill", 1, 2)] {
        func gain(_ sample: [Int]?) -> Double {
          (scores[high].mean(values[high], sample: sample) - scores[low].mean(values[low], sample: sample)) * 100
        }
        let estimate = gain(nil)
        let resampled = scoredQueries.isEmpty ? [] : samples.map { gain($0) }
        let lower = CriterionBootstrap.lowerQuantile(resampled, confidence: settings.confidence)
        steps.append(.init(
          metric: metric, step: step, estimatePoints: estimate, projectedPoints: estimate, lowerBoundPoints: lower,
          slopePointsPerDoubling: 0))
      }
    }
    return steps
  }
}
