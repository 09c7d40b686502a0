import BCTClient
import BCTProto
@testable import BCTRetrieval
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Synchronization
import Testing

/// The retrieval service's encoder calls through grpc-swift's `RetryPolicy`, against
/// an in-process encoder (real gRPC over TCP) that fails on purpose: UNAVAILABLE
/// answers are retried up to `--encoder-attempts`, a slow encoder is cut off at the
/// caller's deadline, and a down one is reported at once, not at the deadline.
@Suite("Encoder calls: grpc-swift retries, deadlines, outages")
struct EncoderGatewayRetryTests {
  /// An encoder whose ListModels answers UNAVAILABLE `failures` times, then an empty listing
  /// (a held one only once the test fires `gate`).
  struct FlakyEncoder: Bct_V1_Encoder.SimpleServiceProtocol {
    let failures: Int
    var holds = false
    let calls = CallCounter()
    let gate = OneShotSignal()

    func listModels(request: Bct_V1_ListModelsRequest, context: ServerContext) async throws -> Bct_V1_ListModelsResponse {
      let call = calls.next()
      if call <= failures { throw RPCError(code: .unavailable, message: "not yet (call \(call))") }
      if holds { await gate.wait() }
      return Bct_V1_ListModelsResponse()
    }

    func embed(request: Bct_V1_EmbedRequest, context: ServerContext) async throws -> Bct_V1_EmbedResponse {
      throw RPCError(code: .unimplemented, message: "not in this test")
    }

    func getAdapter(request: Bct_V1_GetAdapterRequest, context: ServerContext) async throws -> Bct_V1_GetAdapterResponse {
      throw RPCError(code: .unimplemented, message: "not in this test")
    }
  }

  final class CallCounter: Sendable {
    private let count = Mutex(0)
    func next() -> Int { count.withLock { $0 += 1; return $0 } }
    var value: Int { count.withLock { $0 } }
  }

  static let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  /// Runs `body` with a gateway (of `attempts`) to `encoder` served on a free port.
  static func withGateway(
    _ encoder: FlakyEncoder, attempts: Int, _ body: @Sendable (EncoderGateway) async throws -> Void
  ) async throws {
    let server = GRPCServer(
      transport: HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext),
      services: [encoder])
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try? await server.serve() }
      let port = try #require(try await server.listeningAddress?.ipv4?.port)
      defer { encoder.gate.fire() }
      try await withGateway(port: port, attempts: attempts) { gateway in
        defer { encoder.gate.fire() }
        try await body(gateway)
      }
      group.cancelAll()
    }
  }

  static func withGateway(port: Int, attempts: Int, _ body: @Sendable (EncoderGateway) async throws -> Void) async throws {
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: port)) { client in
      let cache = FileManager.default.temporaryDirectory.appendingPathComponent("bct-models-\(UUID().uuidString).json")
      let gateway = EncoderGateway(
        client: EncoderClient(client), address: "127.0.0.1:\(port)", cacheFile: cache, attempts: attempts, logger: logger)
      try await body(gateway)
    }
  }

  @Test("UNAVAILABLE answers are retried by the policy until one succeeds")
  func retriedUntilSuccess() async throws {
    let encoder = FlakyEncoder(failures: 2)
    try await Self.withGateway(encoder, attempts: 3) { gateway in
      _ = try await gateway.models(maxAge: .zero, force: true, deadline: .now + .seconds(20))
    }
    #expect(encoder.calls.value == 3)
  }

  @Test("the retries stop at --encoder-attempts: UNAVAILABLE naming the encoder")
  func retriesAreBounded() async throws {
    let encoder = FlakyEncoder(failures: 10)
    try await Self.withGateway(encoder, attempts: 2) { gateway in
      await #expect(throws: EncoderError.self) {
        _ = try await gateway.models(maxAge: .zero, force: true, deadline: .now + .seconds(20))
      }
    }
    #expect(encoder.calls.value == 2)
  }

  @Test("a slow encoder is cut off at the caller's deadline")
  func slowEncoderTimesOut() async throws {
    let encoder = FlakyEncoder(failures: 0, holds: true)
    try await Self.withGateway(encoder, attempts: 3) { gateway in
      let started = ContinuousClock.now
      do {
        _ = try await gateway.models(maxAge: .zero, force: true, deadline: .now + .milliseconds(400))
        Issue.record("a held answer arrived within 400 ms")
      } catch let error as EncoderError {
        #expect(error == .timedOut(address: gateway.address))
      }
      // The kind is the proof: the encoder answers only when the test ends. The bound is loose, as a
      // suite start on 2 cores has stalled every test of the process for 68 s.
      #expect(ContinuousClock.now - started < .seconds(300))
    }
  }

  @Test("a down encoder is reported at once, not when the deadline runs out")
  func downEncoderFailsFast() async throws {
    let closed = try #require(ClosedPort())
    defer { closed.release() }
    try await Self.withGateway(port: closed.port, attempts: 3) { gateway in
      let started = ContinuousClock.now
      do {
        _ = try await gateway.models(maxAge: .zero, force: true, deadline: .now + .seconds(600))
        Issue.record("a listing came from no encoder")
      } catch let error as EncoderError {
        guard case .unavailable = error else {
          Issue.record("expected unavailable, got \(error)")
          return
        }
      }
      // grpc-swift 2.4.3 with a call timeout would answer only at the deadline, and the gateway's own
      // cut-off would then say timedOut: `unavailable` is the proof. Alone this takes milliseconds;
      // the bound is half the deadline, as a suite start on 2 cores has stalled every test for 68 s.
      #expect(ContinuousClock.now - started < .seconds(300), "waited \(ContinuousClock.now - started)")
    }
  }
}

/// A TCP port held bound but never listening, so that connections to it are refused
/// and no other server can take it meanwhile.
struct ClosedPort {
  let fd: Int32
  let port: Int

  init?() {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return nil }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
      pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else {
      close(fd)
      return nil
    }
    self.fd = fd
    port = Int(UInt16(bigEndian: address.sin_port))
  }

  func release() { close(fd) }
}
