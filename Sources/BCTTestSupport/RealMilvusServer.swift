import BCTProcess
import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

#if canImport(Glibc)
import Glibc
#endif

/// The real Milvus standalone server (PyPI's `milvus` 2.3.5) for the store's tests.
///
/// Only one can run per machine, so the test command starts one for the whole suite
/// (`scripts/milvus-server.sh`) and names it in `BCT_MILVUS_SERVER`; tests share it
/// with a collection prefix each (`sharedAddress`). Tests that restart the server start
/// their own (`init`) in a second, serial phase of the test command, after the shared
/// one stopped (`exclusiveAllowed`).
public final class RealMilvusServer: Sendable {
  /// The gRPC port it listens on.
  public let port: Int
  /// Its base directory (data, configuration and logs; kept across restarts).
  public let dataDirectory: URL
  private let process: Process
  private let log: URL

  /// `host:port` of the suite's shared server.
  ///
  /// - Throws: when the tests run without one (not through `scripts/test.sh`).
  public static func sharedAddress() throws -> String {
    guard let address = ProcessInfo.processInfo.environment["BCT_MILVUS_SERVER"], !address.isEmpty else {
      throw MilvusLiteError(
        "no real Milvus server for the store tests: run them with scripts/test.sh, or `source scripts/milvus-server.sh; start_milvus_server DIR` first")
    }
    return address
  }

  /// Whether this test process may start its own server (the test command's serial phase sets `BCT_MILVUS_EXCLUSIVE=1`).
  public static var exclusiveAllowed: Bool { ProcessInfo.processInfo.environment["BCT_MILVUS_EXCLUSIVE"] == "1" }

  /// Starts a server on `dataDirectory` (a fresh folder unless given), on `port` (the
  /// first free one from 19530 unless given), and waits until it reports healthy.
  public init(dataDirectory: URL? = nil, port: Int? = nil, timeout: Duration = .seconds(180)) async throws {
    guard let python = ProcessInfo.processInfo.environment["BCT_MILVUS_SERVER_PYTHON"], !python.isEmpty else {
      throw MilvusLiteError("BCT_MILVUS_SERVER_PYTHON is not set: run the tests with scripts/test.sh (it sources scripts/milvus-server.sh)")
    }
    let folder = dataDirectory ?? Fixtures.temporaryFolder("bct-real-milvus")
    let log = folder.appendingPathComponent("launch-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    // Children inherit the signal mask of the thread that starts them, and Dispatch's
    // threads block SIGTERM: clear the mask before the launcher execs the server.
    process.arguments = [
      "-c", "import os, signal, sys; signal.pthread_sigmask(signal.SIG_SETMASK, []); os.execv(sys.argv[1], sys.argv[1:])",
      // Short sessions: a server restarted after kill -9 would otherwise wait 30 s for its old ones.
      python, try Self.launcher().path, "--data", folder.path, "--session-ttl", "5",
    ] + (port.map { ["--port", "\($0)"] } ?? [])
    let handle = try FileHandle(forWritingTo: log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    self.process = process
    self.log = log
    self.dataDirectory = folder
    do {
      self.port = try await Self.waitHealthy(process, log: log, timeout: timeout)
    } catch {
      kill(process.processIdentifier, SIGKILL)
      throw error
    }
  }

  private struct Launched: Decodable {
    let port: Int
    let metrics_port: Int
  }

  /// Reads the launcher's JSON line, then polls the server's health endpoint; returns its port.
  private static func waitHealthy(_ process: Process, log: URL, timeout: Duration) async throws -> Int {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      guard process.isRunning else {
        throw MilvusLiteError("Milvus exited with status \(process.terminationStatus): \(ServiceProcess.tail(of: log, lines: 20))")
      }
      let first = (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").first.map(String.init) ?? ""
      if let launched = try? JSONDecoder().decode(Launched.self, from: Data(first.utf8)),
        await healthy(URL(string: "http://127.0.0.1:\(launched.metrics_port)/healthz")!)
      {
        return launched.port
      }
      try await Task.sleep(for: .milliseconds(100))
    }
    throw MilvusLiteError("Milvus did not become healthy within \(timeout): \(ServiceProcess.tail(of: log, lines: 20))")
  }

  private static func healthy(_ url: URL) async -> Bool {
    var request = URLRequest(url: url)
    request.timeoutInterval = 2
    guard let (data, _) = try? await URLSession.shared.data(for: request) else { return false }
    return String(decoding: data, as: UTF8.self).contains("OK")
  }

  /// Stops the server with SIGTERM and waits for it to exit (SIGKILL after `grace`).
  public func stop(grace: Duration = .seconds(30)) async { await process.stop(grace: grace) }


  /// Kills the server with SIGKILL (a crash) and waits for it to exit.
  public func kill9() async { await process.kill9() }


  /// The last lines of its launcher's output, for failure messages.
  public func tail(lines: Int = 20) -> String { ServiceProcess.tail(of: log, lines: lines) }

  private static func launcher() throws -> URL {
    var folder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    while folder.path != "/" {
      let candidate = folder.appendingPathComponent("scripts/milvus-server.py")
      if FileManager.default.fileExists(atPath: candidate.path) { return candidate }
      folder.deleteLastPathComponent()
    }
    throw MilvusLiteError("scripts/milvus-server.py not found above \(#filePath)")
  }
}
