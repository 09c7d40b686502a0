import BCTModelRepository
import Foundation

extension Fixtures {
  /// v1 (MLP, 5% of the data, 128 dimensions) and w1 (a wider MLP on 30%, 96
  /// dimensions, trained independently: another lineage), with the adapters
  /// `bct adapt` fitted between them (Procrustes and affine kinds, 200 resamples).
  public static let adaptedRepository: URL = {
    let repo = temporaryFolder("bct-adapted")
    let (v1, w1) = (repo.appendingPathComponent("v1").path, repo.appendingPathComponent("w1").path)
    let common = ["--arch", "mlp", "--val-fraction", "0.05"]
    run(["train"] + common + ["--hidden", "64", "--epochs", "1", "--fraction", "0.05", "--seed", "0", "--out", v1])
    run(["train"] + common + ["--hidden", "256", "--epochs", "2", "--fraction", "0.3", "--seed", "7", "--embedding-dim", "96", "--out", w1])
    run(["adapt", "--old", v1, "--new", w1, "--kinds", "procrustes,affine", "--resamples", "200", "--margin", "0",
         "--confidence", "0.5", "--catalogue-size", "3000"])
    return repo
  }()

  /// A copy of `adaptedRepository` whose adapters' certificates pass, as a stronger
  /// pair's would: for tests of what the services do with certified modes.
  public static func adaptedRepositoryCertified() throws -> URL {
    let repo = temporaryFolder("bct-adapted-certified")
    for version in ["v1", "w1"] {
      try FileManager.default.copyItem(at: adaptedRepository.appendingPathComponent(version), to: repo.appendingPathComponent(version))
    }
    try passAdapterCertificates(in: repo.appendingPathComponent("w1"))
    return repo
  }

  /// Rewrites the certificates of the adapters the version in `folder` holds so that
  /// they pass (bounds 2 points above a 0.5-point margin), figures kept.
  public static func passAdapterCertificates(in folder: URL) throws {
    let file = folder.appendingPathComponent(ModelVersion.manifestFile)
    var manifest = try Manifest.decode(Data(contentsOf: file))
    manifest.adapters = manifest.adapters?.map { record in
      var record = record
      let c = record.certificate
      var passing = CompatibilityCertificate(
        oldVersion: c.oldVersion, oldHeadFingerprint: c.oldHeadFingerprint, top1: c.top1,
        meanAveragePrecision: c.meanAveragePrecision, bounds: CertificateFixtures.bounds(lowerBoundPoints: 2),
        marginPoints: 0.5, dataset: c.dataset, split: c.split, examples: c.examples, issuedAt: c.issuedAt)
      passing.perPair = c.perPair
      record.certificate = passing
      return record
    }
    try manifest.encoded().write(to: file, options: .atomic)
  }
}
