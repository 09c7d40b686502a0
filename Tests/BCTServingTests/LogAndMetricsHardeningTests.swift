import BCTRuntime
import BCTServing
import BCTTestSupport
import Foundation
import Logging
import NIOCore
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

@Suite("Log lines cannot be forged; the metrics endpoint cannot be held open")
struct LogAndMetricsHardeningTests {
  @Test("control characters and line separators in client strings are escaped; quoting stays one token", arguments: [
    "v1\n2026-12-03T00:00:00Z info bct-retrieval: forged", "id\r\nx", "tab\there", "bell\u{7}", "nel\u{85}x", "ls\u{2028}ps\u{2029}", "esc\u{1B}[2J",
  ])
  func escaping(value: String) {
    let quoted = LineLogHandler.quoted(value)
    let message = LineLogHandler.escaped(value)
    for text in [quoted, message] {
      #expect(!text.unicodeScalars.contains { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) || $0.value == 0x2028 || $0.value == 0x2029 }, "\(text.debugDescription)")
    }
    #expect(quoted.hasPrefix("\"") && quoted.hasSuffix("\""))
  }

  @Test("plain values stay plain; quotes and backslashes are escaped inside quotes")
  func quoting() {
    #expect(LineLogHandler.quoted("v1") == "v1")
    #expect(LineLogHandler.quoted("") == "")
    #expect(LineLogHandler.quoted("a b") == "\"a b\"")
    #expect(LineLogHandler.quoted("say \"hi\"") == "\"say \\\"hi\\\"\"")
    #expect(LineLogHandler.quoted("back\\slash") == "\"back\\\\slash\"")
  }

  /// A TCP connection to 127.0.0.1:`port` with a 20 s receive timeout (generous for a loaded machine).
  static func connect(_ port: Int) throws -> Int32 {
    guard let fd = Fixtures.loopbackSocket(port: port, receiveTimeout: 20_000_000) else { throw POSIXError(.ECONNREFUSED) }
    return fd
  }

  /// Reads until the peer closes (0), or -1 when the receive times out first.
  static func readUntilClosed(_ fd: Int32) -> Int {
    var buffer = [UInt8](repeating: 0, count: 4096)
    var total = 0
    while true {
      let n = recv(fd, &buffer, buffer.count, 0)
      if n == 0 { return total }
      if n < 0 { return -1 }
      total += n
    }
  }

  @Test("an idle connection is closed after the idle timeout; connections past the limit are closed at once; scrapes still work")
  func metricsEndpoint() async throws {
    let port = Mutex(0)
    let server = MetricsHTTPServer(
      host: "127.0.0.1", port: 0, metrics: ServiceMetrics(service: "test"), logger: Logger(label: "test") { _ in SwiftLogNoOpLogHandler() },
      idleTimeout: .milliseconds(500), maxConnections: 4) { bound in port.withLock { $0 = bound } }
    let task = Task { try await server.run() }
    defer { task.cancel() }
    // Generous: on a 2-core CI machine other suites can hold the cooperative pool for minutes
    // (a full local run once needed more than 120 s); a prompt bind ends the wait at once.
    let end = ContinuousClock.now + .seconds(300)
    while port.withLock({ $0 }) == 0 && ContinuousClock.now < end { try await Task.sleep(for: .milliseconds(10)) }
    let bound = port.withLock { $0 }
    try #require(bound > 0)
    let idle = try (0..<4).map { _ in try Self.connect(bound) }
    try await Task.sleep(for: .milliseconds(100))
    let extra = try Self.connect(bound)
    let started = ContinuousClock.now
    #expect(Self.readUntilClosed(extra) == 0, "a fifth connection is closed at once")
    for fd in idle {
      #expect(Self.readUntilClosed(fd) == 0, "an idle connection is closed by the server")
      close(fd)
    }
    #expect(ContinuousClock.now - started < .seconds(60))
    close(extra)
    try await Task.sleep(for: .milliseconds(100))
    let scrape = try Self.connect(bound)
    let request = Array("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
    _ = request.withUnsafeBytes { send(scrape, $0.baseAddress, $0.count, 0) }
    #expect(Self.readUntilClosed(scrape) > 0)
    close(scrape)
  }
}
