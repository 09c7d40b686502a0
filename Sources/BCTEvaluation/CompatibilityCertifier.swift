import BCTData
import BCTModelRepository
import BCTNumerics
import Foundation

/// Issues compatibility certificates: measures M(Q_old,D_old), M(Q_new,D_old) and
/// M(Q_new,D_new) on held-out data and judges them with a margin.
public enum CompatibilityCertifier {
  /// The default margin every step of the criterion must exceed, in points.
  public static let defaultMarginPoints = 0.5

  /// A certificate for `new` against each version of `olds`, measured on `data`
  /// (both queries and gallery, self-match excluded), described as `split`.
  public static func certify(
    new: ModelVersion, against olds: [ModelVersion], on data: Dataset, split: String,
    marginPoints: Double = defaultMarginPoints
  ) -> [CompatibilityCertificate] {
    let issuedAt = ISO8601DateFormatter().string(from: Date())
    let newEmbeddings = new.backbone.embed(data.inputs).l2NormalizedRows()
    func score(_ queries: Matrix, _ gallery: Matrix) -> RetrievalScores {
      RetrievalMetrics.evaluate(
        queries: queries, queryLabels: data.labels, gallery: gallery, galleryLabels: data.labels, excludeSelf: true)
    }
    let newNew = score(newEmbeddings, newEmbeddings)
    return olds.map { old in
      let oldEmbeddings = old.backbone.embed(data.inputs).l2NormalizedRows()
      let oldOld = score(oldEmbeddings, oldEmbeddings)
      let newOld = score(newEmbeddings, oldEmbeddings)
      return CompatibilityCertificate(
        oldVersion: old.version, oldHeadFingerprint: old.manifest.head.fingerprint,
        top1: .init(oldOld: oldOld.top1, newOld: newOld.top1, newNew: newNew.top1),
        meanAveragePrecision: .init(
          oldOld: oldOld.meanAveragePrecision, newOld: newOld.meanAveragePrecision,
          newNew: newNew.meanAveragePrecision),
        marginPoints: marginPoints, dataset: data.name, split: split, examples: data.count, issuedAt: issuedAt)
    }
  }

  /// How certificates name a validation split carved by `Dataset.validationSplit`.
  public static func validationSplitDescription(fraction: Double, seed: UInt64) -> String {
    String(format: "validation split (%g%% of the training data, seed %llu)", fraction * 100, seed)
  }

  /// `model` certified against `olds` on `data` restricted to the classes it was
  /// trained on, its manifest recording the certificates (see `recording`).
  public static func certified(
    _ model: ModelVersion, against olds: [ModelVersion], on data: Dataset, split: String,
    marginPoints: Double = defaultMarginPoints
  ) -> (model: ModelVersion, certificates: [CompatibilityCertificate]) {
    let served = model.manifest.training.classes.map { data.keepingClasses(Set($0)) } ?? data
    let certificates = certify(new: model, against: olds, on: served, split: split, marginPoints: marginPoints)
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
