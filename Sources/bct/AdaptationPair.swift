import ArgumentParser
import BCTAdapterFitting
import BCTAdapters
import BCTData
import BCTEvaluation
import BCTModelRepository
import Foundation

/// An old and a new version with their paired embeddings: calibration pairs to fit
/// and choose adapters on, and the validation split to certify each mode on. What
/// `bct adapt` fits, and `bct train --old` after training.
struct AdaptationPair {
  var old: StoredVersion
  var new: StoredVersion
  var calibration: PairAdaptation.Embeddings
  var validation: Validation
  var dataset: String
  var split: String
  var calibrationDescription: String

  /// What the modes are certified on: items judged by class, or queries and documents judged by qrels.
  enum Validation {
    case classes(PairAdaptation.Embeddings)
    case qrels(QrelsPairs.Validation)
  }

  /// Two trained versions embedding `calibration` (the training data less the
  /// validation split) and `held` (that split, restricted to the classes the new
  /// version serves) themselves.
  static func trained(
    old: ModelVersion, new: ModelVersion, calibration: Dataset, held: Dataset, split: String
  ) throws -> AdaptationPair {
    guard old.backbone.inputShape == new.backbone.inputShape else {
      throw ValidationError("\(old.version) takes inputs \(old.backbone.inputShape), \(new.version) \(new.backbone.inputShape): they cannot embed the same items")
    }
    let served = new.manifest.training.classes.map { held.keepingClasses(Set($0)) } ?? held
    func embeddings(_ data: Dataset) -> PairAdaptation.Embeddings {
      .init(old: old.backbone.embed(data.inputs).l2NormalizedRows(),
            new: new.backbone.embed(data.inputs).l2NormalizedRows(), labels: data.labels)
    }
    return AdaptationPair(
      old: .trained(old), new: .trained(new), calibration: embeddings(calibration),
      validation: .classes(embeddings(served)), dataset: held.name, split: split,
      calibrationDescription: "\(calibration.name) less the \(split)")
  }

  /// Fits the adapters of `directions` (kinds chosen on a selection split), certifies
  /// each mode, writes them into the new version's `folder` and returns the report to print.
  func fitAndInstall(
    directions: [AdapterDirection], kinds: [AdapterKind], fitSeed: UInt64, settings: CompatibilityCertifier.Settings,
    into folder: URL
  ) throws -> String {
    guard old.version != new.version else {
      throw ValidationError("the old and the new version are both \(old.version): adapters connect two different versions")
    }
    let adaptation = PairAdaptation(selection: AdapterSelection(kinds: kinds, seed: fitSeed), settings: settings)
    let oldKey = (old.version, old.manifest.head.fingerprint)
    let fitted: [PairAdaptation.Fitted]
    switch validation {
    case .classes(let held):
      fitted = adaptation.fit(
        directions: directions, old: oldKey, calibration: calibration, certification: held, dataset: dataset, split: split)
    case .qrels(let held):
      fitted = adaptation.fit(
        directions: directions, old: oldKey, calibration: calibration, qrels: held, dataset: dataset, split: split)
    }
    let installer = AdapterInstaller(
      calibration: calibrationDescription, calibrationExamples: calibration.labels.count,
      oldWeightsSha256: old.weightsDigest, newWeightsSha256: new.weightsDigest)
    _ = try installer.install(fitted, oldVersion: old.version, fitSeed: fitSeed, into: folder, manifest: new.manifest)
    return AdaptReport.render(fitted, old: old.version, new: new.version, calibrationExamples: calibration.labels.count)
  }
}
