import Foundation

/// A Milvus server a test started and may stop, crash and start again on its data.
public protocol RestartableMilvus: Sendable {
  /// The gRPC port it listens on.
  var port: Int { get }
  /// Its data directory (kept across restarts).
  var dataDirectory: URL { get }
  /// Stops it with SIGTERM and waits for it to exit (SIGKILL after `grace`).
  func stop(grace: Duration) async
  /// Kills it with SIGKILL (a crash) and waits for it to exit.
  func kill9() async
  /// A new server on the same data directory and port.
  func restarted() async throws -> Self
}

extension MilvusLiteServer: RestartableMilvus {
  public func restarted() async throws -> MilvusLiteServer {
    try await MilvusLiteServer(dataDirectory: dataDirectory, port: port)
  }
}

extension RealMilvusServer: RestartableMilvus {
  public func restarted() async throws -> RealMilvusServer {
    try await RealMilvusServer(dataDirectory: dataDirectory, port: port)
  }
}
