import BCTModelRepository

/// Certificate parts for tests that need a certificate without measuring one.
public enum CertificateFixtures {
  /// Bounds whose four steps all have `lowerBoundPoints` as their lower bound (and
  /// estimate 1 point above it), at 95% from 1,000 resamples, projected to 10,000 documents.
  public static func bounds(lowerBoundPoints lower: Double) -> CertificateBounds {
    let steps = [("top-1", "cross"), ("top-1", "backfill"), ("mAP", "cross"), ("mAP", "backfill")].map {
      CertificateBounds.Step(
        metric: $0.0, step: $0.1, estimatePoints: lower + 1, projectedPoints: lower + 1, lowerBoundPoints: lower,
        slopePointsPerDoubling: 0)
    }
    return CertificateBounds(
      method: "fixture", resamples: 1000, confidence: 0.95, seed: 0, catalogueSize: 10_000, steps: steps,
      galleryCurve: [])
  }
}
