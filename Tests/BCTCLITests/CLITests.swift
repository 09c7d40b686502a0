import BCTData
import BCTTestSupport
import Foundation
import Testing

/// The `bct` client commands against the real services, success and failure paths.
@Suite("bct CLI against the running services", .serialized)
struct CLITests {
  @Test("no command's help lists an option twice (the model flag is --model-version, beside --version)")
  func noOptionClash() async throws {
    let top = try await Fixtures.command(["--help"])
    let commands = top.output.components(separatedBy: "SUBCOMMANDS:").last!
      .split(separator: "\n").compactMap { line -> String? in
        guard line.hasPrefix("  "), !line.hasPrefix("   "), let name = line.split(separator: " ").first else { return nil }
        return String(name).trimmingCharacters(in: CharacterSet(charactersIn: ","))
      }
      .filter { $0 != "See" }
    #expect(commands.count >= 12, "\(commands)")
    for command in commands {
      let help = try await Fixtures.command([command, "--help"])
      let names = help.output.split(separator: "\n").compactMap { line -> String? in
        let words = line.split(separator: " ")
        guard let option = words.first(where: { $0.hasPrefix("--") }), line.hasPrefix("  -") else { return nil }
        return String(option.split(separator: "=").first!).trimmingCharacters(in: CharacterSet(charactersIn: ","))
      }
      #expect(Set(names).count == names.count, "bct \(command): \(names)")
      if ["embed", "upsert", "search", "train"].contains(command) {
        #expect(names.contains("--model-version") && names.contains("--version"), "bct \(command): \(names)")
      }
    }
  }

  @Test("every client command, its output and exit status, and the failure paths")
  func commands() async throws {
    let encoder = try await Fixtures.startEncoder(try await Fixtures.trainedRepository())
    let retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-cli-data"))
    defer { Task { await retrieval.kill9(); await encoder.kill9() } }
    let env = ["BCT_ENCODER": "127.0.0.1:\(encoder.port)", "BCT_RETRIEVAL": "127.0.0.1:\(retrieval.port)"]
    func bct(_ arguments: String...) async throws -> CommandResult { try await Fixtures.command(arguments, environment: env) }

    var result = try await bct("health")
    #expect(result.status == 0 && result.output.components(separatedBy: "serving").count == 3, "\(result)")

    result = try await bct("models", "--json")
    let models = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
    #expect(result.status == 0 && models?["default_version"] as? String == "v2")
    #expect((models?["models"] as? [[String: Any]])?.compactMap { $0["version"] as? String } == ["v1", "v2"])
    result = try await bct("models")
    #expect(result.output.contains("v2*") && result.output.contains("mlp"))

    let npy = Fixtures.temporaryFolder("bct-cli-embed").appendingPathComponent("e.npy")
    result = try await bct("embed", "--split", "test", "--range", "0-2", "--model-version", "v1", "--out", npy.path)
    #expect(result.status == 0 && result.output.contains("3 x 128"), "\(result)")
    #expect(try ArrayFile.read(path: npy.path).shape == [3, 128])

    result = try await bct("index", "--split", "test", "--range", "0-199", "--model-version", "v1", "--id-prefix", "test-", "--batch", "64")
    #expect(result.status == 0 && result.output.contains("indexed 200 documents") && result.output.contains("200 new"), "\(result)")

    result = try await bct("search", "--split", "test", "--range", "0-1", "-k", "3", "--model-version", "v1", "--json")
    let search = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
    let firstHits = ((search?["results"] as? [[String: Any]])?.first?["hits"] as? [[String: Any]]) ?? []
    #expect(result.status == 0 && firstHits.count == 3 && firstHits.first?["id"] as? String == "test-0", "\(result)")
    result = try await bct("search", "--split", "test", "--range", "5-5", "-k", "2")
    #expect(result.status == 0 && result.output.contains("queries embedded with v2") && result.output.contains("label="), "\(result)")

    result = try await bct("backfill", "--to", "v2", "--batch-size", "50")
    #expect(result.status == 0 && result.output.contains("completed") && result.output.contains("200/200"), "\(result)")

    result = try await bct("stats", "--json")
    let stats = try JSONSerialization.jsonObject(with: Data(result.output.utf8)) as? [String: Any]
    #expect(stats?["documents"] as? Int == 200 && stats?["document_version"] as? String == "v2", "\(result)")
    result = try await bct("stats")
    #expect(result.output.contains("raw inputs"))

    result = try await bct("delete", "test-0", "test-1")
    #expect(result.status == 0 && result.output.contains("deleted 2"))

    // Failure paths: one readable line, non-zero exit.
    result = try await bct("delete", "test-0")
    #expect(result.status == 1 && result.error.hasPrefix("bct: NOT_FOUND: no document with id \"test-0\""), "\(result)")
    result = try await bct("embed", "--split", "test", "--range", "0-0", "--model-version", "v9")
    #expect(result.status == 1 && result.error.contains("NOT_FOUND") && result.error.contains("v9"), "\(result)")
    result = try await bct("search", "--split", "test", "--range", "0-0", "-k", "0")
    #expect(result.status == 1 && result.error.contains("INVALID_ARGUMENT"), "\(result)")
    let junk = Fixtures.temporaryFolder("bct-cli-junk").appendingPathComponent("junk.npy")
    try Data("not an array file at all".utf8).write(to: junk)
    result = try await bct("embed", "--file", junk.path)
    #expect(result.status != 0 && result.error.contains("junk.npy"), "\(result)")
    result = try await bct("embed", "--file", "/nonexistent/x.npy")
    #expect(result.status != 0 && result.error.contains("cannot open"), "\(result)")
    result = try await bct("index", "--split", "test", "--range", "0-99999")
    #expect(result.status != 0 && result.error.contains("outside"), "\(result)")
    result = try await Fixtures.command(["stats", "--retrieval", "127.0.0.1:1", "--deadline", "3"], environment: env)
    #expect(result.status == 1 && result.error.contains("UNAVAILABLE"), "\(result)")
    result = try await Fixtures.command(["health", "--retrieval", "127.0.0.1:1", "--deadline", "3"], environment: env)
    #expect(result.status == 1 && result.output.contains("unreachable"), "\(result)")

    #expect(await retrieval.terminate() == 0)
    #expect(await encoder.terminate() == 0)
  }
}
