import BCTTestSupport
import Foundation
import Testing

/// Where the retrieval service under test keeps documents: the same service tests run on both.
enum StoreKind: String, CaseIterable, Sendable, CustomTestStringConvertible {
  /// In process, with the write-ahead log and snapshots (the default).
  case memory
  /// In a `milvus-lite server` started for the test.
  case milvus

  var testDescription: String { rawValue }

  /// Runs `body` with the `bct-retrieval` arguments selecting this store (a fresh
  /// milvus-lite server and collection prefix for `.milvus`, killed afterwards).
  func with<Result: Sendable>(_ body: ([String]) async throws -> Result) async throws -> Result {
    switch self {
    case .memory:
      return try await body([])
    case .milvus:
      return try await MilvusLiteServer.with { server in
        try await body(["--store", "milvus://127.0.0.1:\(server.port)/t\(UInt32.random(in: 1...UInt32.max))"])
      }
    }
  }
}
