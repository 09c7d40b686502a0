import BCTAdapters
import BCTModelRepository
import Foundation

/// Puts fitted adapters into the new version's folder: the weight files, and a
/// record per adapter in its manifest (replacing an earlier one for the same old
/// version and direction). The manifest is written last, so a reader sees either
/// the old adapters or the new ones.
public struct AdapterInstaller: Sendable {
  /// What the calibration pairs were, e.g. "fashion-mnist/train less the validation split".
  public var calibration: String
  public var calibrationExamples: Int
  /// Digests of the weights the adapters were fitted for (`ModelVersion.weightsDigest`).
  public var oldWeightsSha256: String
  public var newWeightsSha256: String

  public init(calibration: String, calibrationExamples: Int, oldWeightsSha256: String, newWeightsSha256: String) {
    self.calibration = calibration
    self.calibrationExamples = calibrationExamples
    self.oldWeightsSha256 = oldWeightsSha256
    self.newWeightsSha256 = newWeightsSha256
  }

  /// Writes `fitted` (adapters to `oldVersion`) into `folder` and returns `manifest` with their records.
  public func install(
    _ fitted: [PairAdaptation.Fitted], oldVersion: String, fitSeed: UInt64, into folder: URL, manifest: Manifest
  ) throws -> Manifest {
    var manifest = manifest
    var records = manifest.adapters ?? []
    for item in fitted {
      let name = AdapterFiles.fileName(direction: item.direction, oldVersion: oldVersion)
      let digest = try AdapterFiles.write(item.adapter, to: folder, name: name)
      let chosen = item.outcome.chosen
      let others = item.outcome.candidates.filter { $0 != chosen }
      records.removeAll { $0.oldVersion == oldVersion && $0.direction == item.direction.rawValue }
      records.append(AdapterRecord(
        oldVersion: oldVersion, direction: item.direction.rawValue, kind: item.adapter.kind.rawValue,
        inputDim: item.adapter.inputDim, outputDim: item.adapter.outputDim, hiddenDim: item.adapter.hiddenDim,
        file: name, fileSha256: digest, oldWeightsSha256: oldWeightsSha256, newWeightsSha256: newWeightsSha256,
        calibration: calibration, calibrationExamples: calibrationExamples, fitSeed: fitSeed,
        candidates: [chosen] + others, certificate: item.certificate))
    }
    manifest.adapters = records
    let data = try manifest.encoded()
    try data.write(to: folder.appendingPathComponent(ModelVersion.manifestFile), options: .atomic)
    return manifest
  }
}
