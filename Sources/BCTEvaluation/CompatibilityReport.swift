import BCTData
import BCTModelRepository
import BCTNumerics

/// The query-model x gallery-model evaluation of a set of versions, and whether
/// the compatibility criterion M(Q2,D2) > M(Q2,D1) > M(Q1,D1) holds.
public struct CompatibilityReport: Sendable, Codable {
  /// One version's facts and embedding geometry.
  public struct Model: Sendable, Codable {
    public var version: String
    public var architecture: String
    public var compatibilityObjective: String
    public var parentVersion: String?
    public var compatibleWith: [String]
    public var alignment: Double
    public var uniformity: Double
  }

  /// Retrieval quality of queries embedded by `query` against a gallery embedded by `gallery`.
  public struct Cell: Sendable, Codable {
    public var query: String
    public var gallery: String
    public var top1: Double
    public var top5: Double
    public var mAP: Double
  }

  /// The criterion for one (old, new) pair of a lineage, on top-1 and mAP.
  public struct Pair: Sendable, Codable {
    public var old: String
    public var new: String
    /// M(Q1,D1), M(Q2,D1), M(Q2,D2) for top-1.
    public var top1: [Double]
    /// M(Q1,D1), M(Q2,D1), M(Q2,D2) for mAP.
    public var mAP: [Double]
    public var holds: Bool
  }

  /// Overall verdict over every compatible pair.
  public struct Criterion: Sendable, Codable {
    /// True when there is at least one compatible pair and every pair satisfies it strictly.
    public var holds: Bool
    public var pairs: [Pair]
  }

  public var dataset: String
  public var models: [Model]
  public var matrix: [Cell]
  public var criterion: Criterion

  /// Evaluates `versions` on `test` (both query and gallery, self-match excluded).
  public static func evaluate(versions: [ModelVersion], on test: Dataset) -> CompatibilityReport {
    let embeddings = versions.map { $0.backbone.embed(test.inputs).l2NormalizedRows() }
    var models: [Model] = []
    for (version, z) in zip(versions, embeddings) {
      models.append(Model(
        version: version.version, architecture: version.manifest.architecture.name,
        compatibilityObjective: version.manifest.training.compatibilityObjective,
        parentVersion: version.manifest.parentVersion, compatibleWith: version.manifest.compatibleWith,
        alignment: EmbeddingGeometry.alignment(z, labels: test.labels),
        uniformity: EmbeddingGeometry.uniformity(z)))
    }
    var matrix: [Cell] = []
    for (q, queryVersion) in versions.enumerated() {
      for (g, galleryVersion) in versions.enumerated() {
        let scores = RetrievalMetrics.evaluate(
          queries: embeddings[q], queryLabels: test.labels, gallery: embeddings[g], galleryLabels: test.labels,
          excludeSelf: true)
        matrix.append(Cell(
          query: queryVersion.version, gallery: galleryVersion.version, top1: scores.top1, top5: scores.top5,
          mAP: scores.meanAveragePrecision))
      }
    }
    func cell(_ q: String, _ g: String) -> Cell { matrix.first { $0.query == q && $0.gallery == g }! }
    var pairs: [Pair] = []
    for new in versions {
      for old in LineageScan.olderVersions(of: new, among: versions).map(\.version) {
        let (oo, no, nn) = (cell(old, old), cell(new.version, old), cell(new.version, new.version))
        let holds = nn.top1 > no.top1 && no.top1 > oo.top1 && nn.mAP > no.mAP && no.mAP > oo.mAP
        pairs.append(Pair(old: old, new: new.version, top1: [oo.top1, no.top1, nn.top1], mAP: [oo.mAP, no.mAP, nn.mAP], holds: holds))
      }
    }
    return CompatibilityReport(
      dataset: test.name, models: models, matrix: matrix,
      criterion: Criterion(holds: !pairs.isEmpty && pairs.allSatisfy(\.holds), pairs: pairs))
  }

  /// The evaluation records that concern `version`, for its manifest.
  public func records(for version: String) -> [Manifest.EvaluationRecord] {
    matrix.filter { $0.query == version || $0.gallery == version }.map {
      Manifest.EvaluationRecord(
        queryVersion: $0.query, galleryVersion: $0.gallery, top1: $0.top1, top5: $0.top5,
        meanAveragePrecision: $0.mAP, dataset: dataset)
    }
  }
}
