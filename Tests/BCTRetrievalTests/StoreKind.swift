import BCTClient
import BCTMilvus
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// Where the retrieval service under test keeps documents: the same service tests run on both.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
  /// In process, with the write-ahead log and snapshots (the default).
  case memory
  /// In the real Milvus server the test command started for the suite.
  case milvus

  var testDescription: String { rawValue }

  /// Runs `body` with the `bct-retrieval` arguments selecting this store (for
  /// `.milvus`, a fresh collection prefix on the suite's real Milvus server, whose
  /// collections are dropped afterwards).
  func with<Result: Sendable>(_ body: ([String]) async throws -> Result) async throws -> Result {
    switch self {
    case .memory:
      return try await body([])
    case .milvus:
      let address = try RealMilvusServer.sharedAddress()
      let prefix = "t\(UInt32.random(in: 1...UInt32.max))"
      do {
        let result = try await body(["--store", "milvus://\(address)/\(prefix)"])
        try await Self.drop(prefix: prefix, at: address)
        return result
      } catch {
        try? await Self.drop(prefix: prefix, at: address)
        throw error
      }
    }
  }

  /// Drops the shared server's collections of one test (`PREFIX_...`), so the suite's
  /// data does not pile up in the server's memory.
  static func drop(prefix: String, at address: String) async throws {
    try await withConnection(to: try ServiceAddress(parsing: address)) { grpc in
      let client = MilvusClient(grpc, address: address, retryFor: .seconds(600))
      for name in try await client.collectionNames() where name.hasPrefix("\(prefix)_") {
        try await client.dropCollection(name)
      }
    }
  }
}
