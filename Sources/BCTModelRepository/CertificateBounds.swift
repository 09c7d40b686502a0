/// The uncertainty a certificate's verdict rests on: one-sided lower confidence
/// bounds on the four steps of the criterion (cross and backfill gain, top-1 and
/// mAP), from resampling the evaluation, projected to the catalogue's size, and
/// the gallery-size curve the projection comes from.
public struct CertificateBounds: Codable, Sendable, Equatable {
  /// One step of the criterion with its bound, in points.
  public struct Step: Codable, Sendable, Equatable {
    /// "top-1" or "mAP".
    public var metric: String
    /// "cross" (M(Q_new,D_old) - M(Q_old,D_old)) or "backfill" (M(Q_new,D_new) - M(Q_new,D_old)).
    public var step: String
    /// The gain on the whole split.
    public var estimatePoints: Double
    /// The gain projected to the catalogue size; never above the estimate.
    public var projectedPoints: Double
    /// The one-sided lower confidence bound of the projected gain.
    public var lowerBoundPoints: Double
    /// Change of the gain per doubling of the gallery (least squares over the curve).
    public var slopePointsPerDoubling: Double

    public init(
      metric: String, step: String, estimatePoints: Double, projectedPoints: Double, lowerBoundPoints: Double,
      slopePointsPerDoubling: Double
    ) {
      self.metric = metric
      self.step = step
      self.estimatePoints = estimatePoints
      self.projectedPoints = projectedPoints
      self.lowerBoundPoints = lowerBoundPoints
      self.slopePointsPerDoubling = slopePointsPerDoubling
    }

    /// "top-1 cross gain".
    public var name: String { "\(metric) \(step) gain" }
  }

  /// The criterion's figures with every query of the split against a gallery of
  /// `gallerySize` documents drawn from it.
  public struct CurvePoint: Codable, Sendable, Equatable {
    public var gallerySize: Int
    public var top1: CompatibilityCertificate.Figures
    public var meanAveragePrecision: CompatibilityCertificate.Figures

    public init(gallerySize: Int, top1: CompatibilityCertificate.Figures, meanAveragePrecision: CompatibilityCertificate.Figures) {
      self.gallerySize = gallerySize
      self.top1 = top1
      self.meanAveragePrecision = meanAveragePrecision
    }
  }

  /// How the bounds were computed.
  public var method: String
  /// Bootstrap resamples drawn.
  public var resamples: Int
  /// One-sided confidence level of each bound, in (0, 1).
  public var confidence: Double
  /// Seed of the resampling: the same seed and data give the same bounds.
  public var seed: UInt64
  /// Documents the bounds are projected to.
  public var catalogueSize: Int
  /// The four steps: top-1 cross, top-1 backfill, mAP cross, mAP backfill.
  public var steps: [Step]
  /// Smallest gallery first; the last point is the whole split.
  public var galleryCurve: [CurvePoint]
  /// How much more new queries crowd onto few old documents (hubs) than the same-model
  /// searches do (Kish's design effect ratio, >= 1); top-1 spreads were widened by its
  /// square root. Nil in bounds from before it was measured.
  public var hubDesignEffect: Double?
  /// The metrics whose steps the verdict rests on: nil or "classes" for top-1 and
  /// mAP under class relevance, "qrels" for recall@10 and nDCG@10 under per-pair
  /// relevance (BEIR-style judgments), as text retrieval is judged.
  public var relevance: String?

  public init(
    method: String, resamples: Int, confidence: Double, seed: UInt64, catalogueSize: Int, steps: [Step],
    galleryCurve: [CurvePoint], hubDesignEffect: Double? = nil, relevance: String? = nil
  ) {
    self.relevance = relevance
    self.hubDesignEffect = hubDesignEffect
    self.method = method
    self.resamples = resamples
    self.confidence = confidence
    self.seed = seed
    self.catalogueSize = catalogueSize
    self.steps = steps
    self.galleryCurve = galleryCurve
  }

  /// The step names every complete set of bounds under class relevance covers.
  public static let requiredSteps = ["top-1 cross gain", "top-1 backfill gain", "mAP cross gain", "mAP backfill gain"]
  /// The step names every complete set of bounds under per-pair relevance covers.
  public static let requiredQrelsSteps = [
    "recall@10 cross gain", "recall@10 backfill gain", "nDCG@10 cross gain", "nDCG@10 backfill gain",
  ]
  /// The steps these bounds must cover, by their relevance.
  public var required: [String] { relevance == "qrels" ? Self.requiredQrelsSteps : Self.requiredSteps }

  /// "95% item bootstrap (percentile), 1000 resamples, seed 0, projected to 100000 documents".
  public var description: String {
    let level = (confidence * 100).formatted(significantDigits: 4)
    return "\(level)% \(method), \(resamples) resamples, seed \(seed), projected to \(catalogueSize) documents"
  }
}

extension Double {
  /// The number with at most `significantDigits` digits and no trailing zeros ("95", "97.5").
  func formatted(significantDigits: Int) -> String {
    var text = String(format: "%.\(significantDigits)g", self)
    if text.contains("."), !text.contains("e") {
      while text.hasSuffix("0") { text.removeLast() }
      if text.hasSuffix(".") { text.removeLast() }
    }
    return text
  }
}
