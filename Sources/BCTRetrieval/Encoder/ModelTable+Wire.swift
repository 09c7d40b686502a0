import BCTCollection
import BCTProto
import Foundation

extension ModelTable {
  /// The table of a ListModels response.
  public init(_ response: Bct_V1_ListModelsResponse) {
    self.init(defaultVersion: response.defaultVersion)
    for (order, model) in response.models.enumerated() {
      versions[model.version] = VersionInfo(
        version: model.version, lineage: model.lineage, dimension: Int(model.embeddingDim),
        inputShape: model.inputShape.map(Int.init), order: order,
        relations: model.compatibility.mapValues { relation in
          switch relation {
          case .certified: return .certified
          case .uncertified: return .uncertified
          default: return .incompatible
          }
        },
        certificates: Dictionary(model.certificates.map { ($0.oldVersion, CertificateQuote($0)) }) { _, last in last })
    }
    for model in response.models {
      for adapter in model.adapters where adapter.usable {
        let certified = adapter.certificate.verdict == .certified
        switch adapter.mode {
        case .transformedDocuments:
          addTransformLabel(target: model.version, source: adapter.oldVersion, fileSha256: adapter.fileSha256, certified: certified)
        case .queryAdapted where certified: addQueryAdapter(holder: model.version, old: adapter.oldVersion, fileSha256: adapter.fileSha256)
        default: continue
        }
      }
    }
    self = servable
  }

  /// Records that `holder`'s queries may search `old` documents through its query adapter.
  mutating func addQueryAdapter(holder: String, old: String, fileSha256: String) {
    guard versions[old] != nil, var info = versions[holder], TransformLabel.parse(old) == nil else { return }
    info.queryAdapters = (info.queryAdapters ?? [:]).merging([old: fileSha256]) { $1 }
    versions[holder] = info
  }

  /// Lists "TARGET<-SOURCE" (`TransformLabel`) as a version in the target's space:
  /// its dimension, input shape and relations, certified with the target itself.
  /// An uncertified transform is listed too, marked so (`uncertifiedTransform`): a
  /// backfill moves by it only on the operator's word, into a shadow copy, and an
  /// index that was switched to it must still be searchable.
  mutating func addTransformLabel(target: String, source: String, fileSha256: String, certified: Bool = true) {
    guard versions[source] != nil, var info = versions[target],
          TransformLabel.parse(target) == nil, TransformLabel.parse(source) == nil
    else { return }
    let label = TransformLabel.make(target: target, source: source)
    info.version = label
    info.relations[target] = .certified
    info.certificates = [:]
    info.queryAdapters = nil
    info.transformFileSha256 = fileSha256
    info.uncertifiedTransform = certified ? nil : true
    versions[label] = info
    versions[target]?.relations[label] = .certified
  }
}

extension CertificateQuote {
  /// The quote of a certificate on the wire.
  public init(_ certificate: Bct_V1_CompatibilityCertificate) {
    func p(_ x: Double) -> String { String(format: "%.1f", x * 100) }
    let t = certificate.top1, m = certificate.meanAveragePrecision
    let figures = "top-1 \(p(t.oldOld)) -> \(p(t.newOld)) -> \(p(t.newNew)), mAP \(p(m.oldOld)) -> \(p(m.newOld)) -> \(p(m.newNew)) "
      + "as Q_old/D_old -> Q_new/D_old -> Q_new/D_new on \(certificate.split.isEmpty ? certificate.dataset : certificate.split), "
      + "margin \(String(format: "%.2g", certificate.marginPoints)) point"
    self.init(
      passed: certificate.verdict == .certified, figures: figures, reasons: certificate.reasons,
      bounds: certificate.hasBounds ? Self.describe(certificate.bounds) : nil)
  }

  /// "lower bounds top-1 +0.81/+1.90, mAP +2.02/+1.13 (cross/backfill; 95% item bootstrap ..., 1000 resamples, seed 0, 100000 documents)".
  static func describe(_ bounds: Bct_V1_CertificateBounds) -> String {
    func bound(_ metric: String, _ step: String) -> String {
      bounds.steps.first { $0.metric == metric && $0.step == step }.map { String(format: "%+.2f", $0.lowerBoundPoints) } ?? "?"
    }
    let level = String(format: "%g", bounds.confidence * 100)
    let metrics = bounds.relevance == "qrels" ? ["recall@10", "nDCG@10"] : ["top-1", "mAP"]
    return "lower bounds " + metrics.map { "\($0) \(bound($0, "cross"))/\(bound($0, "backfill"))" }.joined(separator: ", ")
      + " points (cross/backfill; \(level)% \(bounds.method), "
      + "\(bounds.resamples) resamples, seed \(bounds.seed), projected to \(bounds.catalogueSize) documents)"
  }
}
