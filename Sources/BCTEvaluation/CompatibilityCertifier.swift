import BCTData
import BCTModelRepository
import BCTNumerics
import Foundation

/// Issues compatibility certificates: measures M(Q_old,D_old), M(Q_new,D_old) and
/// M(Q_new,D_new) on held-out data, bounds each step of the criterion from below by
/// an item bootstrap projected to the catalogue's size, and judges the bounds with
/// a margin.
public enum CompatibilityCertifier {
  /// How a certificate is judged: the margin every bound must exceed, and the bounds' settings.
  public struct Settings: Sendable, Equatable, Codable {
    /// Points every step's lower bound must exceed.
    public var marginPoints: Double
    /// One-sided confidence level of each bound, in (0, 1).
    public var confidence: Double
    /// Bootstrap resamples.
    public var resamples: Int
    /// Seed of the resampling (and of the curve's gallery order).
    public var seed: UInt64
    /// Documents the bounds are projected to; nil = the default, `defaultCatalogueSize`.
    public var catalogueSize: Int?

    public init(
      marginPoints: Double = CompatibilityCertifier.defaultMarginPoints,
      confidence: Double = CompatibilityCertifier.defaultConfidence,
      resamples: Int = CompatibilityCertifier.defaultResamples, seed: UInt64 = 0, catalogueSize: Int? = nil
    ) {
      self.marginPoints = marginPoints
      self.confidence = confidence
      self.resamples = resamples
      self.seed = seed
      self.catalogueSize = catalogueSize
    }

    /// The documents the bounds are projected to.
    public var projectedCatalogue: Int { catalogueSize ?? CompatibilityCertifier.defaultCatalogueSize }

    /// Why these settings cannot give a meaningful certificate, if they cannot.
    public var problem: String? {
      if !(marginPoints.isFinite && marginPoints >= 0 && marginPoints <= 100) { return "the margin must be 0-100 points" }
      if !(confidence >= 0.5 && confidence <= 0.999) { return "the confidence must be 0.5-0.999" }
      if !(resamples >= 100 && resamples <= 100_000) { return "resamples must be 100-100000" }
      if let catalogueSize, !(catalogueSize >= 2 && catalogueSize <= 1_000_000_000_000) {
        return "the catalogue size must be 2 to 10^12 documents"
      }
      return nil
    }
  }

  /// The default margin every step's lower bound must exceed, in points.
  public static let defaultMarginPoints = 0.5
  /// The default one-sided confidence of each bound.
  public static let defaultConfidence = 0.95
  /// The default number of bootstrap resamples.
  public static let defaultResamples = 1000
  /// The catalogue size bounds are projected to when none is declared.
  public static let defaultCatalogueSize = 100_000

  /// A certificate for `new` against each version of `olds`, measured on `data`
  /// (both queries and gallery, self-match excluded), described as `split`.
  public static func certify(
    new: ModelVersion, against olds: [ModelVersion], on data: Dataset, split: String, settings: Settings = .init()
  ) -> [CompatibilityCertificate] {
    let newEmbeddings = new.backbone.embed(data.inputs).l2NormalizedRows()
    return olds.map { old in
      certificate(
        old: (old.version, old.manifest.head.fingerprint), embeddings: (old.backbone.embed(data.inputs).l2NormalizedRows(), newEmbeddings),
        labels: data.labels, dataset: data.name, split: split, settings: settings)
    }
  }

  /// A certificate from unit-norm `embeddings` of the same items by the old and the
  /// new version, labelled `labels`. `cross` replaces the cross-model search (new
  /// queries on old documents) by another mode's: adapted queries on old documents,
  /// or new queries on transformed old documents.
  public static func certificate(
    old: (version: String, headFingerprint: String), embeddings: (old: Matrix, new: Matrix), labels: [Int],
    cross: (queries: Matrix, gallery: Matrix)? = nil, dataset: String, split: String, settings: Settings
  ) -> CompatibilityCertificate {
    let evaluation = PairEvaluation.measure(
      old: embeddings.old, new: embeddings.new, labels: labels, seed: settings.seed, cross: cross)
    let bootstrap = CriterionBootstrap.draw(evaluation, resamples: settings.resamples, seed: settings.seed)
    return CompatibilityCertificate(
      oldVersion: old.version, oldHeadFingerprint: old.headFingerprint, top1: evaluation.top1,
      meanAveragePrecision: evaluation.meanAveragePrecision,
      bounds: bootstrap.bounds(for: evaluation, confidence: settings.confidence, catalogueSize: settings.projectedCatalogue),
      marginPoints: settings.marginPoints, dataset: dataset, split: split, examples: labels.count,
      issuedAt: ISO8601DateFormatter().string(from: Date()))
  }

  /// How certificates name a validation split carved by `Dataset.validationSplit`.
  public static func validationSplitDescription(fraction: Double, seed: UInt64) -> String {
    String(format: "validation split (%g%% of the training data, seed %llu)", fraction * 100, seed)
  }

  /// `model` certified against `olds` on `data` restricted to the classes it was
  /// trained on, its manifest recording the certificates (see `recording`).
  public static func certified(
    _ model: ModelVersion, against olds: [ModelVersion], on data: Dataset, split: String, settings: Settings = .init()
  ) -> (model: ModelVersion, certificates: [CompatibilityCertificate]) {
    let served = model.manifest.training.classes.map { data.keepingClasses(Set($0)) } ?? data
    let certificates = certify(new: model, against: olds, on: served, split: split, settings: settings)
    var model = model
    model.manifest = recording(certificates, in: model.manifest)
    return (model, certificates)
  }

  /// `manifest` with `certificates` replacing any earlier ones for the same old
  /// versions, and `compatible_with` = the versions it is now certified against.
  public static func recording(_ certificates: [CompatibilityCertificate], in manifest: Manifest) -> Manifest {
    var manifest = manifest
    let replaced = Set(certificates.map(\.oldVersion))
    manifest.compatibility = manifest.certificates.filter { !replaced.contains($0.oldVersion) } + certificates
    manifest.compatibleWith = manifest.certificates.filter { $0.verdict == .certified }.map(\.oldVersion)
    return manifest
  }
}
