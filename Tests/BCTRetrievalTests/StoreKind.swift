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
  /// `.milvus`, a fresh collection prefix on the suite's real Milvus server). The
  /// collections stay: a service of the test still shutting down may flush them, and
  /// Milvus 2.3.5 exits on a Flush that meets a Drop of the same collection.
  func with<Result: Sendable>(_ body: ([String]) async throws -> Result) async throws -> Result {
    switch self {
    case .memory:
      return try await body([])
    case .milvus:
      return try await body(["--store", "milvus://\(try RealMilvusServer.sharedAddress())/t\(UInt32.random(in: 1...UInt32.max))"])
    }
  }
}
