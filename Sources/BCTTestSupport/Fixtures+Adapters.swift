import BCTModelRepository
import Foundation

extension Fixtures {
  /// v1 (MLP, 5% of the data, 128 dimensions) and w1 (a wider MLP on 30%, 96
  /// dimensions, trained independently: another lineage), with the adapters
  /// `bct adapt` fitted between them (Procrustes and affine kinds, 200 resamples).
  /// Built once per test process; awaiting it suspends instead of blocking a thread
  /// of the concurrency pool (with 2 cores, a blocked pool stalls every other test's RPCs).
  public static func adaptedRepository() async throws -> URL {
    try await adaptedRepositoryBuild.value
  }

  private static let adaptedRepositoryBuild = Task<URL, any Error> {
    let repo = temporaryFolder("bct-adapted")
    let (v1, w1) = (repo.appendingPathComponent("v1").path, repo.appendingPathComponent("w1").path)
    let common = ["--arch", "mlp", "--val-fraction", "0.05"]
    for arguments in [
      ["train"] + common + ["--hidden", "64", "--epochs", "1", "--fraction", "0.05", "--seed", "0", "--out", v1],
      ["train"] + common + ["--hidden", "256", "--epochs", "2", "--fraction", "0.3", "--seed", "7", "--embedding-dim", "96", "--out", w1],
      ["adapt", "--old", v1, "--new", w1, "--kinds", "procrustes,affine", "--resamples", "200", "--margin", "0",
       "--confidence", "0.5", "--catalogue-size", "3000"],
    ] {
      let result = try await command(arguments)
      guard result.status == 0 else { throw FixtureError("bct \(arguments.joined(separator: " ")) failed: \(result.error)") }
    }
    return repo
  }

  /// A copy of `adaptedRepository` whose adapters' certificates pass, as a stronger
  /// pair's would: for tests of what the services do with certified modes.
  public static func adaptedRepositoryCertified() async throws -> URL {
    let repo = temporaryFolder("bct-adapted-certified")
    let source = try await adaptedRepository()
    for version in ["v1", "w1"] {
      try FileManager.default.copyItem(at: source.appendingPathComponent(version), to: repo.appendingPathComponent(version))
    }
    try passAdapterCertificates(in: repo.appendingPathComponent("w1"))
    return repo
  }

  /// The trained fixture's v1 and v2 (v2 natively certified against v1) with v2's
  /// document transform to v1 (affine), its certificate passing: a pair a transform
  /// backfill moves in place.
  public static func nativelyCertifiedWithTransform() async throws -> URL {
    try await nativeTransformBuild.value
  }

  private static let nativeTransformBuild = Task<URL, any Error> {
    let repo = temporaryFolder("bct-native-transform")
    let trained = try await trainedRepository()
    for version in ["v1", "v2"] {
      try FileManager.default.copyItem(at: trained.appendingPathComponent(version), to: repo.appendingPathComponent(version))
    }
    try await run(["adapt", "--old", repo.appendingPathComponent("v1").path, "--new", repo.appendingPathComponent("v2").path,
                   "--directions", "document", "--kinds", "affine", "--resamples", "200"])
    try passAdapterCertificates(in: repo.appendingPathComponent("v2"))
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

/// A fixture that could not be built.
public struct FixtureError: Error, CustomStringConvertible {
  public let description: String
  public init(_ description: String) { self.description = description }
}
