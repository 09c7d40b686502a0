import Crypto
import Foundation
import Testing

/// The committed generated code must come from the committed `.proto` files:
/// `scripts/generate-protos.sh` records their checksums, and this test recomputes them.
@Suite("Generated code freshness")
struct GeneratedCodeFreshnessTests {
  static let root = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  static func protoFiles() throws -> [String] {
    let protos = root.appendingPathComponent("Protos")
    let enumerator = try #require(FileManager.default.enumerator(atPath: protos.path))
    return enumerator.compactMap { $0 as? String }.filter { $0.hasSuffix(".proto") }.sorted()
  }

  static func recorded() throws -> [String: String] {
    let file = root.appendingPathComponent("Sources/BCTProto/Generated/protos.sha256")
    let text = try String(contentsOf: file, encoding: .utf8)
    var sums: [String: String] = [:]
    for line in text.split(separator: "\n") {
      let parts = line.split(separator: " ", omittingEmptySubsequences: true)
      guard parts.count == 2 else { continue }
      sums[String(parts[1])] = String(parts[0])
    }
    return sums
  }

  @Test("every .proto file was generated and is unchanged since")
  func checksumsMatch() throws {
    let recorded = try Self.recorded()
    let files = try Self.protoFiles()
    #expect(!files.isEmpty)
    #expect(Set(files) == Set(recorded.keys), "Protos/ and the recorded list differ: run scripts/generate-protos.sh")
    for file in files {
      let data = try Data(contentsOf: Self.root.appendingPathComponent("Protos/\(file)"))
      let digest = SHA256.hash(data: data).map { String(format: "%02x", $0) }.joined()
      #expect(
        digest == recorded[file],
        "\(file) changed after code generation: run scripts/generate-protos.sh and commit the result")
    }
  }

  @Test("every .proto file has its generated Swift and C code")
  func generatedFilesExist() throws {
    for file in try Self.protoFiles() {
      let stem = String(file.dropLast(".proto".count))
      let swift = "Sources/BCTProto/Generated/\(stem.replacingOccurrences(of: "/", with: "_")).pb.swift"
      let c = "Sources/BCTProtoC/generated/\(stem).pb-c.c"
      let header = "Sources/BCTProtoC/include/\(stem).pb-c.h"
      for path in [swift, c, header] {
        #expect(FileManager.default.fileExists(atPath: Self.root.appendingPathComponent(path).path), "missing \(path)")
      }
    }
  }
}
