import BCTTestSupport
import Foundation
import Testing
import Yams

/// docker/compose.yaml and the Dockerfile name only entry points, flags and
/// environment variables that the executables accept.
@Suite("Container deployment files")
struct ComposeTests {
  static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  static func help(_ executable: String, _ arguments: [String] = []) async throws -> String {
    // Help text is wrapped at the terminal width; compare with whitespace collapsed.
    try await Fixtures.command(arguments + ["--help"], executable: executable).output
      .split(whereSeparator: \.isWhitespace).joined(separator: " ")
  }

  @Test("compose parses; every bct service's command, flags and BCT_* variables exist", arguments: ["compose.yaml", "compose.milvus.yaml"])
  func compose(file: String) async throws {
    let text = try String(contentsOf: Self.root.appendingPathComponent("docker/\(file)"), encoding: .utf8)
    let compose = try #require(try Yams.load(yaml: text) as? [String: Any])
    let services = try #require(compose["services"] as? [String: [String: Any]])
    let milvus = file == "compose.milvus.yaml"
    #expect(Set(services.keys) == Set(["train", "encoder", "retrieval"] + (milvus ? ["etcd", "minio", "milvus"] : [])))
    #expect((compose["volumes"] as? [String: Any?]).map { Set($0.keys) }
      == Set(["models", "retrieval-data"] + (milvus ? ["milvus-etcd", "milvus-minio", "milvus-data"] : [])))
    for (name, service) in services where ["train", "encoder", "retrieval"].contains(name) {
      let command = try #require(service["command"] as? [String], "\(name) has a command")
      let environment = service["environment"] as? [String: Any] ?? [:]
      if command.first == "sh" {
        let script = command.last!
        let trainHelp = try await Self.help("bct", ["train"])
        for flag in script.split(separator: " ").filter({ $0.hasPrefix("--") }) {
          #expect(trainHelp.contains(String(flag)), "\(name): bct train accepts \(flag)")
        }
        continue
      }
      let executable = try #require(command.first)
      #expect(["bct-encoder", "bct-retrieval"].contains(executable))
      let help = try await Self.help(executable)
      for key in environment.keys where key.hasPrefix("BCT_") && key != "BCT_HEALTH_SERVICE" {
        #expect(help.contains("Env \(key)"), "\(executable) reads \(key)")
      }
      #expect(environment["BCT_HEALTH_SERVICE"] as? String == (executable == "bct-encoder" ? "encoder" : "retrieval"))
      #expect(service["restart"] as? String == "unless-stopped")
      #expect(service["depends_on"] != nil)
    }
    let retrieval = services["retrieval"]
    let retrievalEnv = retrieval?["environment"] as? [String: Any]
    #expect(retrievalEnv?["BCT_ENCODER"] as? String == "encoder:50051", "the retrieval service finds the encoder by service name")
    if milvus {
      #expect(retrievalEnv?["BCT_STORE"] as? String == "milvus://milvus:19530/bct", "the retrieval service keeps documents in the milvus service")
      let waits = retrieval?["depends_on"] as? [String: [String: String]]
      #expect(waits?["milvus"]?["condition"] == "service_healthy")
      #expect(services["milvus"]?["image"] as? String == "milvusdb/milvus:v2.5.10")
    }
  }

  @Test("the Dockerfile's HEALTHCHECK uses flags bct health accepts; stages are builder, runtime, trainer")
  func dockerfile() async throws {
    let text = try String(contentsOf: Self.root.appendingPathComponent("docker/Dockerfile"), encoding: .utf8)
    let stages = text.split(separator: "\n").filter { $0.hasPrefix("FROM ") }.compactMap { $0.split(separator: " ").last.map(String.init) }
    #expect(stages == ["builder", "runtime", "trainer"])
    #expect(text.contains("USER bct") && text.contains("--static-swift-stdlib"))
    let health = try await Self.help("bct", ["health"])
    for flag in ["--service", "--deadline", "--encoder", "--retrieval"] { #expect(health.contains(flag)) }
  }
}
