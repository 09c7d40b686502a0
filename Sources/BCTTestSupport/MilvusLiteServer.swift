import BCTProcess
import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A `milvus-lite server` child process on a loopback port, for the Milvus store's tests.
///
/// The executable comes from `BCT_MILVUS_LITE` (set by `scripts/milvus-venv.sh`, which
/// the test command sources) or `.venv-milvus/bin/milvus-lite` under the package root.
public final class MilvusLiteServer: Sendable {
  /// The gRPC port it listens on.
  public let port: Int
  /// Its data directory (kept across restarts).
  public let dataDirectory: URL
  private let process: Process

  /// Starts a server on `dataDirectory` (a fresh folder unless given), on `port` (a free one unless given).
  public init(dataDirectory: URL? = nil, port: Int? = nil, timeout: Duration = .seconds(60)) async throws {
    let executable = try Self.executable()
    let folder = dataDirectory ?? Fixtures.temporaryFolder("bct-milvus-data")
    let port = try port ?? Self.freePort()
    let log = FileManager.default.temporaryDirectory.appendingPathComponent("milvus-lite-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    // Children inherit the signal mask of the thread that starts them, and Dispatch's
    // threads block SIGTERM: the venv's Python clears the mask, then execs the server,
    // so that SIGTERM stops it as it would from a shell.
    let process = Process()
    process.executableURL = executable.deletingLastPathComponent().appendingPathComponent("python3")
    process.arguments = [
      "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
      executable.path, "server", "--data-dir", folder.path, "--host", "127.0.0.1", "--port", "\(port)",
    ]
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    let ready = "listening on 127.0.0.1:\(port)"
    while !((try? String(contentsOf: log, encoding: .utf8))?.contains(ready) ?? false) {
      guard process.isRunning else {
        throw MilvusLiteError("milvus-lite exited with status \(process.terminationStatus): \(ServiceProcess.tail(of: log, lines: 20))")
      }
      guard clock.now < deadline else {
        process.terminate()
        throw MilvusLiteError("milvus-lite did not listen within \(timeout): \(ServiceProcess.tail(of: log, lines: 20))")
      }
      try await Task.sleep(for: .milliseconds(50))
    }
    self.port = port
    self.dataDirectory = folder
    self.process = process
  }

  /// Stops the server with SIGTERM and waits for it to exit (SIGKILL after `grace`).
  public func stop(grace: Duration = .seconds(30)) async { await process.stop(grace: grace) }


  /// Runs `body` with a fresh server and kills the server afterwards, whatever `body` does.
  public static func with<Result>(_ body: (MilvusLiteServer) async throws -> Result) async throws -> Result {
    let server = try await MilvusLiteServer()
    do {
      let result = try await body(server)
      await server.kill9()
      return result
    } catch {
      await server.kill9()
      throw error
    }
  }

  /// Kills the server with SIGKILL (a crash) and waits for it to exit.
  public func kill9() async { await process.kill9() }


  /// Whether the process still runs.
  public var isRunning: Bool { process.isRunning }

  private static func executable() throws -> URL {
    if let path = ProcessInfo.processInfo.environment["BCT_MILVUS_LITE"], !path.isEmpty {
      return URL(fileURLWithPath: path)
    }
    var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while folder.path != "/" {
      let candidate = folder.appendingPathComponent(".venv-milvus/bin/milvus-lite")
      if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
      folder.deleteLastPathComponent()
    }
    throw MilvusLiteError("milvus-lite not found: run the tests with scripts/test.sh (it sources scripts/milvus-venv.sh) or set BCT_MILVUS_LITE")
  }

  /// A TCP port free on loopback now (the kernel's choice for port 0).
  public static func freePort() throws -> Int {
    let socket = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard socket >= 0 else { throw MilvusLiteError("socket() failed") }
    defer { close(socket) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(socket, $0, length) }
    }
    guard bound == 0 else { throw MilvusLiteError("bind() failed") }
    let named = withUnsafeMutablePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(socket, $0, &length) }
    }
    guard named == 0 else { throw MilvusLiteError("getsockname() failed") }
    return Int(UInt16(bigEndian: address.sin_port))
  }
}

/// milvus-lite could not be started.
public struct MilvusLiteError: Error, CustomStringConvertible {
  public let description: String
  init(_ description: String) { self.description = description }
}
