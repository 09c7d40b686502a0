import BCTEncoder
import BCTNumerics
import BCTServing
import Foundation
import GRPCCore
import Testing

@Suite("Dynamic batching")
struct EmbeddingBatcherTests {
  static func inputs(rows: Int, seed: Float) -> Matrix {
    Matrix(rows: rows, columns: 16, values: (0..<(rows * 16)).map { Float($0 % 17) * 13 + seed })
  }

  /// Runs `body` with a running batcher, then stops it.
  static func withBatcher(
    _ limits: EmbeddingBatcher.Limits, metrics: ServiceMetrics? = nil,
    _ body: @Sendable @escaping (EmbeddingBatcher) async throws -> Void
  ) async throws {
    let batcher = EmbeddingBatcher(limits: limits, metrics: metrics)
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { try await batcher.run() }
      try await body(batcher)
      batcher.close()
      try await group.waitForAll()
    }
  }

  @Test("concurrent requests share one forward pass and each gets exactly its own rows")
  func coalesces() async throws {
    let model = TinyRepository.served(try TinyRepository.version("v1", createdAt: "x"), generation: 1)
    let metrics = ServiceMetrics(service: "encoder")
    try await Self.withBatcher(.init(maxBatch: 64, maxWait: .milliseconds(200), maxQueuedRows: 256), metrics: metrics) { batcher in
      try await withThrowingTaskGroup(of: Void.self) { group in
        for request in 0..<8 {
          group.addTask {
            let inputs = Self.inputs(rows: 1 + request % 3, seed: Float(request))
            let output = try await batcher.embed(inputs, with: model)
            let expected = model.backbone!.embed(inputs)
            #expect(output.rows == inputs.rows && output.columns == 8)
            for (a, b) in zip(output.values, expected.values) { #expect(abs(a - b) < 1e-5) }
          }
        }
        try await group.waitForAll()
      }
    }
    let text = metrics.exposition()
    let passes = text.split(separator: "\n").first { $0.hasPrefix("bct_encoder_batch_requests_count") }
    #expect(passes.map { Double($0.split(separator: " ").last!)! <= 2 } == true, "8 requests in \(passes ?? "?") passes")
    #expect(text.contains(#"bct_encoder_embedded_rows_total{version="v1"} 15"#))
  }

  @Test("a lone request to an idle batcher runs at once, not after the wait window")
  func loneRequestDoesNotWait() async throws {
    let model = TinyRepository.served(try TinyRepository.version("v1", createdAt: "x"), generation: 1)
    // A one-hour window: a batcher that waited for company would miss the two-minute limit below,
    // while a loaded CI machine (tests share two cores with fixture training) stays far inside it.
    try await Self.withBatcher(.init(maxBatch: 64, maxWait: .seconds(3600), maxQueuedRows: 256)) { batcher in
      for request in 0..<3 {
        let answered = try await withThrowingTaskGroup(of: Bool.self) { group in
          group.addTask {
            _ = try await batcher.embed(Self.inputs(rows: 1, seed: Float(request)), with: model)
            return true
          }
          group.addTask {
            try await Task.sleep(for: .seconds(120))
            return false
          }
          let first = try await group.next()!
          group.cancelAll()
          return first
        }
        #expect(answered, "request \(request) waited for company")
      }
    }
  }

  @Test("a full queue refuses at once with RESOURCE_EXHAUSTED; an oversized batch too")
  func bounded() async throws {
    let model = TinyRepository.served(try TinyRepository.version("v1", createdAt: "x"), generation: 1)
    // A long window: the queue must still be full when the third request comes, even on a starved machine.
    try await Self.withBatcher(.init(maxBatch: 4, maxWait: .seconds(8), maxQueuedRows: 4)) { batcher in
      let tooBig = await #expect(throws: RPCError.self) { try await batcher.embed(Self.inputs(rows: 5, seed: 0), with: model) }
      #expect(tooBig?.code == .resourceExhausted)
      async let waiting = batcher.embed(Self.inputs(rows: 3, seed: 0), with: model)
      while batcher.queuedRows < 3 { try await Task.sleep(for: .milliseconds(1)) }
      let started = ContinuousClock.now
      let full = await #expect(throws: RPCError.self) { try await batcher.embed(Self.inputs(rows: 2, seed: 0), with: model) }
      #expect(full?.code == .resourceExhausted && full?.message.contains("queue is full") == true)
      #expect(ContinuousClock.now - started < .seconds(4), "refused without waiting for the 8 s window")
      #expect(try await waiting.rows == 3)
    }
  }

  @Test("requests for different loads never share a batch")
  func separatesModels() async throws {
    let a = TinyRepository.served(try TinyRepository.version("v1", seed: 1, createdAt: "x"), generation: 1)
    let b = TinyRepository.served(try TinyRepository.version("v1", seed: 2, createdAt: "x"), generation: 2)
    try await Self.withBatcher(.init(maxBatch: 64, maxWait: .milliseconds(50), maxQueuedRows: 256)) { batcher in
      let inputs = Self.inputs(rows: 2, seed: 1)
      async let fromA = batcher.embed(inputs, with: a)
      async let fromB = batcher.embed(inputs, with: b)
      let (outA, outB) = try await (fromA, fromB)
      #expect(outA == a.backbone!.embed(inputs))
      #expect(outB == b.backbone!.embed(inputs))
      #expect(outA != outB)
    }
  }

  @Test("after close, new requests are UNAVAILABLE")
  func closed() async throws {
    let model = TinyRepository.served(try TinyRepository.version("v1", createdAt: "x"), generation: 1)
    let batcher = EmbeddingBatcher(limits: .init())
    batcher.close()
    let error = await #expect(throws: RPCError.self) { try await batcher.embed(Self.inputs(rows: 1, seed: 0), with: model) }
    #expect(error?.code == .unavailable)
  }
}
