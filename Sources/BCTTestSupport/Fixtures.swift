import BCTProcess
import Foundation
#if canImport(Glibc)
import Glibc
#endif
import GRPCCore

/// Shared fixtures of the integration tests: a model repository trained by the
/// real `bct train`, and the real service executables on ephemeral loopback ports.
public enum Fixtures {
  /// A repository with v1 (mlp on 5% of Fashion-MNIST) and v2 (an mlp on 30%,
  /// trained compatible with v1), trained once per test process; v2 is certified
  /// against v1 on a 5% validation split with gains of 2 points and more (about
  /// 75 -> 77 -> 81 top-1). Its new queries crowd onto hub documents (hub design
  /// effect ~12), so at any real confidence its top-1 bounds are below zero; the
  /// services' certified path needs a certified pair, so the fixture certifies at
  /// the 50% level (the point estimates: +2.5/+4.2 top-1, +7.6/+4.2 mAP), margin 0,
  /// for a 3,000-document catalogue. It stands for "a pair the certificate passed".
  ///
  /// Trained with `--no-adapters`: the fixture is the native path; the adapter
  /// fixtures (Fixtures+Adapters) add the adapters they need explicitly.
  ///
  /// Built once per test process; awaiting it suspends instead of blocking a thread of
  /// the concurrency pool (with 2 cores, a blocked pool stalls every other test's RPCs).
  public static func trainedRepository() async throws -> URL {
    try await trainedRepositoryBuild.value
  }

  private static let trainedRepositoryBuild = Task<URL, any Error> {
    let repo = FileManager.default.temporaryDirectory.appendingPathComponent("bct-fixture-\(UUID().uuidString)")
    let v1 = repo.appendingPathComponent("v1").path
    try await run(["train", "--arch", "mlp", "--epochs", "2", "--fraction", "0.05", "--val-fraction", "0.05", "--seed", "0", "--out", v1])
    try await run(["train", "--arch", "mlp", "--epochs", "3", "--fraction", "0.3", "--val-fraction", "0.05", "--seed", "1",
                   "--old", v1, "--margin", "0", "--confidence", "0.5", "--catalogue-size", "3000", "--no-adapters",
                   "--out", repo.appendingPathComponent("v2").path])
    return repo
  }

  /// A repository with the fixture's v1 and v2 and a v3 of their lineage that is
  /// NOT certified against either (trained with an unreachable 50-point margin,
  /// so its certificates fail with their figures recorded).
  public static func repositoryWithUncertifiedVersion() async throws -> URL {
    let repo = temporaryFolder("bct-fixture-v3")
    let trained = try await trainedRepository()
    for version in ["v1", "v2"] {
      try FileManager.default.copyItem(at: trained.appendingPathComponent(version), to: repo.appendingPathComponent(version))
    }
    try await run(["train", "--arch", "mlp", "--epochs", "2", "--fraction", "0.2", "--val-fraction", "0.05", "--seed", "2", "--hidden", "128",
                   "--old", repo.appendingPathComponent("v2").path, "--margin", "50", "--catalogue-size", "3000", "--no-adapters",
                   "--out", repo.appendingPathComponent("v3").path])
    return repo
  }

  /// Runs `bct` with `arguments` (without blocking a thread) and requires success.
  public static func run(_ arguments: [String]) async throws {
    let result = try await command(arguments)
    guard result.status == 0 else { throw FixtureError("bct \(arguments.joined(separator: " ")) failed: \(result.error)") }
  }

  /// A fresh empty folder.
  /// A TCP socket connected to 127.0.0.1:`port` whose receives time out after
  /// `receiveTimeout` microseconds, or nil when it cannot connect.
  public static func loopbackSocket(port: Int, receiveTimeout: Int) -> Int32? {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_port = in_port_t(UInt16(port).bigEndian)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var timeout = timeval(tv_sec: receiveTimeout / 1_000_000, tv_usec: receiveTimeout % 1_000_000)
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    let connected = withUnsafePointer(to: &address) {
      $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard connected == 0 else {
      close(fd)
      return nil
    }
    return fd
  }

  public static func temporaryFolder(_ prefix: String) -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(prefix)-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// Starts `bct-encoder` on `repository` (port 0 unless given).
  public static func startEncoder(
    _ repository: URL, port: Int = 0, extra: [String] = [], environment: [String: String] = [:]
  ) async throws -> ServiceProcess {
    try await ServiceProcess(
      executable: try ServiceProcess.locate("bct-encoder"),
      arguments: ["--models", repository.path, "--host", "127.0.0.1", "--port", "\(port)", "--metrics-port", "0"] + extra,
      environment: environment)
  }

  /// Starts `bct-retrieval` against the encoder on `encoderPort`, keeping its data in `dataDirectory`.
  public static func startRetrieval(
    encoderPort: Int, dataDirectory: URL, extra: [String] = [], environment: [String: String] = [:]
  ) async throws -> ServiceProcess {
    try await ServiceProcess(
      executable: try ServiceProcess.locate("bct-retrieval"),
      arguments: ["--encoder", "127.0.0.1:\(encoderPort)", "--data-dir", dataDirectory.path, "--host", "127.0.0.1",
                  "--port", "0", "--metrics-port", "0"] + extra,
      environment: environment)
  }

  /// The RPC error `call` throws, or nil if it succeeds.
  public static func rpcError(_ call: () async throws -> some Sendable) async -> RPCError? {
    do {
      _ = try await call()
      return nil
    } catch let error as RPCError {
      return error
    } catch {
      return RPCError(code: .unknown, message: "not an RPCError: \(error)")
    }
  }
}

/// A finished run of the `bct` CLI.
public struct CommandResult: Sendable {
  /// Exit status.
  public var status: Int32
  /// Standard output.
  public var output: String
  /// Standard error.
  public var error: String

  public init(status: Int32, output: String, error: String) {
    self.status = status
    self.output = output
    self.error = error
  }
}

extension Fixtures {
  /// Runs `executable` (default `bct`) with `arguments` and `environment` added, to completion.
  public static func command(
    _ arguments: [String], executable: String = "bct", environment: [String: String] = [:]
  ) async throws -> CommandResult {
    let process = Process()
    process.executableURL = try ServiceProcess.locate(executable)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let folder = temporaryFolder("bct-cli")
    let out = folder.appendingPathComponent("out")
    let err = folder.appendingPathComponent("err")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    while process.isRunning { try await Task.sleep(for: .milliseconds(20)) }
    return CommandResult(
      status: process.terminationStatus,
      output: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
      error: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
  }
}
