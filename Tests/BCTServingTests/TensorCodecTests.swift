import BCTTensor
import BCTNumerics
import BCTProto
import BCTServing
import Foundation
import GRPCCore
import Testing

@Suite("Tensor decoding and validation")
struct TensorCodecTests {
  static func tensor(_ shape: [Int64], values: [Float] = [], bytes: Data = Data()) -> Bct_V1_Tensor {
    var tensor = Bct_V1_Tensor()
    tensor.shape = shape
    tensor.values = values
    tensor.float32Le = bytes
    return tensor
  }

  @Test("packed values and little-endian bytes decode to the same matrix")
  func bothEncodings() throws {
    let values: [Float] = [1, -2, 3.5, 0, 1e-3, 42]
    var bytes = Data()
    for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { bytes.append(contentsOf: $0) } }
    let a = try TensorCodec.decodeBatch(Self.tensor([2, 1, 3], values: values), rowShape: [1, 3], what: "inputs")
    let b = try TensorCodec.decodeBatch(Self.tensor([2, 1, 3], bytes: bytes), rowShape: [1, 3], what: "inputs")
    #expect(a == b && a.rows == 2 && a.columns == 3 && a.values == values)
    #expect(TensorCodec.encode(a).shape == [2, 3])
  }

  @Test("bad tensors are INVALID_ARGUMENT with a message naming the problem", arguments: [
    (TensorCodecTests.tensor([], values: [1]), "missing shape"),
    (TensorCodecTests.tensor([0, 1, 3]), "empty batch"),
    (TensorCodecTests.tensor([2, 3], values: [1, 2, 3, 4, 5, 6]), "does not match [N, 1, 3]"),
    (TensorCodecTests.tensor([2, 1, 4], values: Array(repeating: 1, count: 8)), "does not match"),
    (TensorCodecTests.tensor([2, 1, 3], values: [1, 2, 3]), "3 elements for shape [2, 1, 3], expected 6"),
    (TensorCodecTests.tensor([1, 1, 3]), "no data"),
    (TensorCodecTests.tensor([1, 1, 3], values: [1, 2, 3], bytes: Data(count: 12)), "both values and float32_le"),
    (TensorCodecTests.tensor([1, 1, 3], bytes: Data(count: 11)), "not a multiple of 4"),
    (TensorCodecTests.tensor([1, 1, 3], values: [1, .nan, 3]), "NaN and Inf"),
    (TensorCodecTests.tensor([1, 1, 3], values: [1, 2, -.infinity]), "NaN and Inf"),
    (TensorCodecTests.tensor([Int64.max, 1, 3], values: [1, 2, 3]), "too large"),
    (TensorCodecTests.tensor([-1, 1, 3], values: [1, 2, 3]), "below 1"),
  ])
  func rejects(tensor: Bct_V1_Tensor, message: String) {
    let error = #expect(throws: RPCError.self) {
      try TensorCodec.decodeBatch(tensor, rowShape: [1, 3], what: "inputs")
    }
    #expect(error?.code == .invalidArgument)
    #expect(error?.message.contains(message) == true, "\(error?.message ?? "") should mention \(message)")
    #expect(error?.message.hasPrefix("inputs:") == true)
  }
}

@Suite("Health status store")
struct HealthStatusStoreTests {
  @Test("starts NOT_SERVING, reports changes to watchers, and ends watches on close")
  func watch() async throws {
    let store = HealthStatusStore(services: ["bct.v1.Encoder"])
    #expect(store.status(of: "") == .notServing && store.status(of: "bct.v1.Encoder") == .notServing)
    #expect(store.status(of: "nope") == nil)
    var iterator = store.updates(of: "bct.v1.Encoder").makeAsyncIterator()
    #expect(await iterator.next() == .notServing)
    store.set(.serving, for: "bct.v1.Encoder")
    #expect(await iterator.next() == .serving)
    var unknown = store.updates(of: "other").makeAsyncIterator()
    #expect(await unknown.next() == .serviceUnknown)
    store.close()
    #expect(await iterator.next() == .notServing)
    #expect(await iterator.next() == nil)
    #expect(store.status(of: "bct.v1.Encoder") == .notServing)
  }
}

@Suite("Service metrics")
struct ServiceMetricsTests {
  @Test("RPC outcomes appear in the Prometheus exposition with method, version and code")
  func exposition() async throws {
    let metrics = ServiceMetrics(service: "encoder")
    _ = try await metrics.measure(method: "Embed", version: "v1") { 1 }
    await #expect(throws: RPCError.self) {
      try await metrics.measure(method: "Embed", version: "v1") { () async throws -> Int in
        throw RPCError(code: .invalidArgument, message: "bad")
      }
    }
    metrics.gauge("bct_encoder_queue_rows", help: "queue").set(3.0)
    let text = metrics.exposition()
    #expect(text.contains(#"bct_rpc_requests_total{service="encoder",method="Embed",version="v1",code="ok"} 1"#))
    #expect(text.contains(#"code="invalid_argument"} 1"#))
    #expect(text.contains("bct_rpc_duration_seconds_bucket"))
    #expect(text.contains("bct_encoder_queue_rows 3"))
    #expect(ServiceMetrics.codeName(of: RPCError(code: .resourceExhausted, message: "")) == "resource_exhausted")
  }
}

@Suite("Bearer tokens")
struct BearerTokenTests {
  @Test("the comparison is exact, whatever the lengths")
  func equality() {
    let eq = { (a: String, b: String) in BearerTokenAuth.constantTimeEquals(Array(a.utf8), Array(b.utf8)) }
    #expect(eq("Bearer abc", "Bearer abc"))
    #expect(!eq("Bearer abc", "Bearer abd") && !eq("Bearer abc", "Bearer abcd") && !eq("", "Bearer abc") && !eq("Bearer abc", ""))
  }
}
