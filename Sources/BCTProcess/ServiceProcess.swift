import Foundation
import Synchronization

/// A service executable (`bct-encoder`, `bct-retrieval`) started as a child process,
/// for `bct demo` and the integration tests: it waits for the
/// `NAME listening on HOST:PORT` line, and stops the child with SIGTERM (graceful)
/// or SIGKILL (a crash).
public final class ServiceProcess: Sendable {
  /// The executable's name, e.g. "bct-encoder".
  public let name: String
  /// The gRPC port it reported.
  public let port: Int
  /// The metrics port it reported, if it serves metrics.
  public let metricsPort: Int?
  /// Where its standard error (the logs) goes.
  public let logFile: URL

  private let process: Process
  private let output: OutputBuffer

  /// Starts `executable` with `arguments` and waits up to `timeout` for its
  /// "listening on" line.
  ///
  /// - Throws: `ServiceProcessError` if it exits or stays silent, with the tail of its log.
  public init(
    executable: URL, arguments: [String], environment: [String: String] = [:],
    logFile: URL? = nil, timeout: Duration = .seconds(60), name: String? = nil
  ) async throws {
    let name = name ?? executable.lastPathComponent
    let log = logFile ?? FileManager.default.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString).log")
    _ = FileManager.default.createFile(atPath: log.path, contents: nil)
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let stdout = Pipe()
    process.standardOutput = stdout
    process.standardError = try FileHandle(forWritingTo: log)
    let output = OutputBuffer()
    stdout.fileHandleForReading.readabilityHandler = { handle in
      let data = handle.availableData
      if data.isEmpty { handle.readabilityHandler = nil } else { output.append(data) }
    }
    try process.run()
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    var port: Int?
    while port == nil {
      port = output.port(after: "\(name) listening on ")
      if port != nil { break }
      guard process.isRunning else {
        throw ServiceProcessError("\(name) exited with status \(process.terminationStatus) before listening; log:\n\(Self.tail(of: log))")
      }
      guard clock.now < deadline else {
        process.terminate()
        throw ServiceProcessError("\(name) did not report a listening port within \(timeout); log:\n\(Self.tail(of: log))")
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    // The metrics listener starts beside the gRPC one: when it was asked for, wait for its line too.
    let wantsMetrics = !arguments.contains("--no-metrics") && arguments.firstIndex(of: "--metrics-port").map { arguments.indices.contains($0 + 1) && arguments[$0 + 1] != "-1" } == true
    while wantsMetrics && output.port(after: "\(name) metrics on ") == nil && process.isRunning && clock.now < deadline {
      try await Task.sleep(for: .milliseconds(20))
    }
    self.name = name
    self.port = port!
    self.metricsPort = output.port(after: "\(name) metrics on ")
    self.logFile = log
    self.process = process
    self.output = output
  }

  /// The process id.
  public var pid: Int32 { process.processIdentifier }
  /// Whether the process is still running.
  public var isRunning: Bool { process.isRunning }
  /// Everything it printed on standard output so far.
  public var standardOutput: String { output.text }

  /// Sends SIGTERM and waits up to `timeout` for it to exit; returns its exit status
  /// (nil if it had to be killed).
  @discardableResult
  public func terminate(timeout: Duration = .seconds(30)) async -> Int32? {
    guard process.isRunning else { return process.terminationStatus }
    kill(process.processIdentifier, SIGTERM)
    return await waitForExit(timeout: timeout)
  }

  /// Sends SIGKILL (a crash, no cleanup) and waits for the exit.
  public func kill9() async {
    guard process.isRunning else { return }
    kill(process.processIdentifier, SIGKILL)
    _ = await waitForExit(timeout: .seconds(10))
  }

  /// Sends `signal` without waiting.
  public func send(signal: Int32) {
    if process.isRunning { kill(process.processIdentifier, signal) }
  }

  /// Waits up to `timeout` for the exit; kills it and returns nil if it does not.
  public func waitForExit(timeout: Duration) async -> Int32? {
    let clock = ContinuousClock()
    let deadline = clock.now + timeout
    while process.isRunning && clock.now < deadline {
      try? await Task.sleep(for: .milliseconds(20))
    }
    guard !process.isRunning else {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      return nil
    }
    process.waitUntilExit()
    return process.terminationStatus
  }

  /// The last lines of its log.
  public var logTail: String { Self.tail(of: logFile) }

  deinit {
    if process.isRunning { kill(process.processIdentifier, SIGKILL) }
  }

  /// The last `lines` lines of a log file (empty if unreadable), for error messages.
  public static func tail(of url: URL, lines: Int = 40) -> String {
    let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
    return text.split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
  }

  /// Finds a sibling executable: next to the running program (the build folder of
  /// `bct` or of the test bundle), else on `PATH`.
  public static func locate(_ name: String) throws -> URL {
    let selfURL = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    var candidates = [selfURL.deletingLastPathComponent().appendingPathComponent(name)]
    if let path = ProcessInfo.processInfo.environment["PATH"] {
      candidates += path.split(separator: ":").map { URL(fileURLWithPath: String($0)).appendingPathComponent(name) }
    }
    guard let found = candidates.first(where: { FileManager.default.isExecutableFile(atPath: $0.path) }) else {
      throw ServiceProcessError("cannot find the \(name) executable next to \(selfURL.path) or on PATH; build it with `swift build`")
    }
    return found
  }
}

/// A child service failed to start or stop.
public struct ServiceProcessError: Error, CustomStringConvertible {
  public let description: String
  /// An error with `description`.
  public init(_ description: String) { self.description = description }
}

private final class OutputBuffer: Sendable {
  private let data = Mutex(Data())

  func append(_ chunk: Data) { data.withLock { $0.append(chunk) } }

  var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }

  /// The port at the end of the first line that starts with `prefix` (…HOST:PORT).
  func port(after prefix: String) -> Int? {
    for line in text.split(separator: "\n") where line.hasPrefix(prefix) {
      if let colon = line.lastIndex(of: ":"), let port = Int(line[line.index(after: colon)...]) { return port }
    }
    return nil
  }
}
