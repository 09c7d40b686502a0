import BCTTestSupport
import Foundation
import Testing

/// `bct train --old` certificates and `bct eval --certify`, on 1% of Fashion-MNIST.
@Suite("Compatibility certificates from the CLI", .enabled(if: FileManager.default.fileExists(atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz")))
struct CertificateCLITests {
  static func manifest(_ folder: URL) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(contentsOf: folder.appendingPathComponent("manifest.json"))) as! [String: Any]
  }

  static func certificates(_ manifest: [String: Any]) -> [[String: Any]] {
    manifest["compatibility"] as? [[String: Any]] ?? []
  }

  static func number(_ value: Any?) -> Double { (value as? NSNumber)?.doubleValue ?? .nan }

  /// The verdict must follow from the recorded bounds: every step's lower bound > margin,
  /// and the bounds must describe themselves (method, resamples, level, seed, catalogue, curve).
  static func expectConsistent(
    _ certificate: [String: Any], confidence: Double = 0.95, catalogue: Int = 100_000,
    sourceLocation: SourceLocation = #_sourceLocation
  ) {
    let margin = Self.number(certificate["margin_points"])
    let bounds = certificate["bounds"] as? [String: Any] ?? [:]
    let steps = bounds["steps"] as? [[String: Any]] ?? []
    #expect(steps.count == 4, sourceLocation: sourceLocation)
    let passes = steps.count == 4 && steps.allSatisfy { Self.number($0["lower_bound_points"]) - margin > 1e-9 }
    for step in steps {
      let (estimate, projected, lower) = (Self.number(step["estimate_points"]), Self.number(step["projected_points"]), Self.number(step["lower_bound_points"]))
      #expect(projected <= estimate + 1e-9 && lower <= projected + 1e-9, "\(step)", sourceLocation: sourceLocation)
    }
    #expect((bounds["method"] as? String)?.contains("bootstrap") == true && bounds["resamples"] as? Int == 1000, sourceLocation: sourceLocation)
    #expect(Self.number(bounds["confidence"]) == confidence && bounds["seed"] as? Int == 0, sourceLocation: sourceLocation)
    #expect(bounds["catalogue_size"] as? Int == catalogue && !((bounds["gallery_curve"] as? [Any]) ?? []).isEmpty, sourceLocation: sourceLocation)
    #expect(certificate["verdict"] as? String == (passes ? "certified" : "uncertified"), sourceLocation: sourceLocation)
    #expect((certificate["reasons"] as? [String] ?? []).isEmpty == passes, sourceLocation: sourceLocation)
  }

  @Test("train --old certifies against every older version of the lineage; eval --certify re-certifies")
  func certificates() async throws {
    let repo = Fixtures.temporaryFolder("bct-cert")
    func bct(_ arguments: String...) async throws -> CommandResult { try await Fixtures.command(arguments) }
    let common = ["--arch", "mlp", "--hidden", "32", "--epochs", "1", "--fraction", "0.02", "--val-fraction", "0.01"]
    var result = try await Fixtures.command(["train"] + common + ["--seed", "0", "--out", repo.appendingPathComponent("v1").path])
    #expect(result.status == 0, "\(result)")
    let v1 = try Self.manifest(repo.appendingPathComponent("v1"))
    #expect(Self.certificates(v1).isEmpty && (v1["training"] as? [String: Any])?["validation"] != nil)

    result = try await Fixtures.command(["train"] + common + ["--seed", "1", "--compat", "ract", "--old", repo.appendingPathComponent("v1").path, "--out", repo.appendingPathComponent("v2").path])
    #expect(result.status == 0 && result.output.contains("v2 vs v1: "), "\(result)")
    let v2 = try Self.manifest(repo.appendingPathComponent("v2"))
    let c21 = try #require(Self.certificates(v2).first)
    #expect(c21["old_version"] as? String == "v1" && c21["examples"] as? Int == 600)
    #expect((c21["split"] as? String)?.contains("validation split (1% of the training data, seed 0)") == true)
    #expect(c21["old_head_fingerprint"] as? String == (v1["head"] as? [String: Any])?["fingerprint"] as? String)
    Self.expectConsistent(c21)
    #expect((v2["compatible_with"] as? [String]) == (c21["verdict"] as? String == "certified" ? ["v1"] : []))
    #expect(result.output.contains(c21["verdict"] as? String == "certified" ? "v2 vs v1: certified" : "v2 vs v1: NOT certified"))
    // ...and fits both adapters to v1, each mode certified on the same validation split.
    let adapters = v2["adapters"] as? [[String: Any]] ?? []
    #expect(Set(adapters.compactMap { $0["direction"] as? String }) == ["query", "document"], "\(v2)")
    #expect(adapters.allSatisfy { $0["old_version"] as? String == "v1" && $0["certificate"] != nil }, "\(adapters)")
    #expect(result.output.contains("adapters to v1 fitted and checked"), "\(result)")

    // A version trained into --old's own folder, or under --old's name, is refused; v1 stays as it was.
    for out in [["--out", repo.appendingPathComponent("v1").path, "--force"], ["--out", repo.appendingPathComponent("v9").path, "--model-version", "v1"]] {
      let refused = try await Fixtures.command(["train"] + common + ["--old", repo.appendingPathComponent("v1").path] + out)
      #expect(refused.status != 0 && (refused.error.contains("same folder") || refused.error.contains("as --old is")), "\(refused)")
    }
    #expect(try Self.manifest(repo.appendingPathComponent("v1"))["created_at"] as? String == v1["created_at"] as? String)

    // A third generation trained against v2 is certified against v2 and v1 (found in the repository).
    result = try await Fixtures.command(["train"] + common + ["--seed", "2", "--old", repo.appendingPathComponent("v2").path, "--out", repo.appendingPathComponent("v3").path, "--no-adapters"])
    #expect(result.status == 0 && !result.output.contains("adapters to"), "\(result)")
    #expect(try Self.manifest(repo.appendingPathComponent("v3"))["adapters"] == nil)
    let v3 = try Self.certificates(Self.manifest(repo.appendingPathComponent("v3")))
    #expect(Set(v3.compactMap { $0["old_version"] as? String }) == ["v1", "v2"])
    v3.forEach { Self.expectConsistent($0) }

    // Re-certify on the first 500 test images with a zero margin.
    result = try await bct("eval", "--models", ["v1", "v2", "v3"].map { repo.appendingPathComponent($0).path }.joined(separator: ","),
                           "--certify", "--limit", "500", "--margin", "0", "--confidence", "0.9", "--catalogue-size", "500")
    #expect(result.status == 0 && result.output.contains("Certificates:") && result.output.contains("v3 vs v2"), "\(result)")
    #expect(result.output.contains("gallery-size curve") && result.output.contains("lower bound"), "\(result)")
    let recertified = Self.certificates(try Self.manifest(repo.appendingPathComponent("v3")))
    #expect(recertified.count == 2 && recertified.allSatisfy { $0["examples"] as? Int == 500 && Self.number($0["margin_points"]) == 0 })
    #expect(recertified.allSatisfy { ($0["split"] as? String)?.contains("fashion-mnist/test") == true })
    recertified.forEach { Self.expectConsistent($0, confidence: 0.9, catalogue: 500) }

    for bad in [["--confidence", "1"], ["--resamples", "5"], ["--catalogue-size", "0"], ["--margin", "-1"]] {
      result = try await Fixtures.command(["eval", "--models", repo.appendingPathComponent("v2").path, "--certify"] + bad)
      #expect(result.status != 0 && !result.error.isEmpty, "\(bad): \(result)")
    }

    // Two items of two classes (the first test images): nothing is relevant to anything.
    result = try await bct("eval", "--models", repo.appendingPathComponent("v2").path, "--limit", "2")
    #expect(result.status != 0 && result.error.contains("share a label"), "\(result)")

    result = try await bct("train", "--arch", "mlp", "--val-fraction", "0.9", "--out", repo.appendingPathComponent("x").path)
    #expect(result.status != 0 && result.error.contains("--val-fraction must be in [0, 0.5]"), "\(result)")
  }
}
