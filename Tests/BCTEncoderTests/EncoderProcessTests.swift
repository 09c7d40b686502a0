import BCTModelRepository
import BCTNumerics
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Testing

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The real `bct-encoder` executable on an ephemeral loopback port, serving a
/// repository that the real `bct train` made, called over real TCP.
@Suite("bct-encoder over gRPC", .serialized)
struct EncoderProcessTests {
  static func repository() async throws -> URL { try await Fixtures.trainedRepository() }

  static func startEncoder(_ repo: URL, extra: [String] = []) async throws -> ServiceProcess {
    try await Fixtures.startEncoder(repo, extra: ["--max-batch", "64", "--max-message-bytes", "1048576"] + extra)
  }

  static func withClients<R: Sendable>(
    port: Int, _ body: (Bct_V1_Encoder.Client<HTTP2ClientTransport.Posix>, Grpc_Health_V1_Health.Client<HTTP2ClientTransport.Posix>) async throws -> R
  ) async throws -> R {
    try await withGRPCClient(
      transport: .http2NIOPosix(target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: .plaintext)
    ) { client in
      try await body(Bct_V1_Encoder.Client(wrapping: client), Grpc_Health_V1_Health.Client(wrapping: client))
    }
  }

  static func request(version: String = "", shape: [Int64], values: [Float], normalization: Bct_V1_Normalization = .unspecified) -> Bct_V1_EmbedRequest {
    var request = Bct_V1_EmbedRequest()
    request.modelVersion = version
    request.inputs.shape = shape
    request.inputs.values = values
    request.normalization = normalization
    return request
  }

  static func pixels(_ count: Int) -> [Float] { (0..<count).map { Float(($0 * 37) % 256) } }

  static func expectStatus(
    _ code: RPCError.Code, containing text: String, _ call: () async throws -> some Sendable
  ) async {
    do {
      _ = try await call()
      Issue.record("expected \(code), the call succeeded")
    } catch let error as RPCError {
      #expect(error.code == code, "\(error)")
      #expect(error.message.contains(text), "\(error.message) should mention \(text)")
    } catch {
      Issue.record("expected RPCError \(code), got \(error)")
    }
  }

  @Test("every RPC, good and bad inputs, health, metrics, and a graceful SIGTERM")
  func endToEnd() async throws {
    let repo = try await Self.repository()
    let encoder = try await Self.startEncoder(repo)
    defer { Task { await encoder.kill9() } }
    let v2 = try ModelVersion.load(from: repo.appendingPathComponent("v2"))

    try await Self.withClients(port: encoder.port) { client, health in
      #expect(try await health.check(.with { $0.service = "" }).status == .serving)
      #expect(try await health.check(.with { $0.service = "bct.v1.Encoder" }).status == .serving)
      await Self.expectStatus(.notFound, containing: "unknown service") { try await health.check(.with { $0.service = "nope" }) }

      let list = try await client.listModels(Bct_V1_ListModelsRequest())
      #expect(list.defaultVersion == "v2")
      #expect(list.models.map(\.version) == ["v1", "v2"])
      let (m1, m2) = (list.models[0], list.models[1])
      #expect(m1.architecture == "mlp" && m2.architecture == "mlp")
      #expect(m2.inputShape == [1, 28, 28] && m2.embeddingDim == 128 && m2.numClasses == 10)
      #expect(m2.compatibility["v1"] == .certified && m2.compatibleWith == ["v1"])
      #expect(m1.lineage == m2.lineage && m2.parentVersion == "v1")
      // v2's certificate against v1, measured by `bct train` on its validation split, decides the pair.
      #expect(m2.certificates.count == 1 && m2.certificates[0].oldVersion == "v1" && m1.certificates.isEmpty)
      let certificate = m2.certificates[0]
      #expect(certificate.examples == 3000 && certificate.split.contains("validation") && certificate.oldHeadFingerprint == m1.headFingerprint)
      let certified = certificate.verdict == .certified
      #expect(certified, "the fixture's v2 is certified against v1 by design")
      #expect(certified == certificate.reasons.isEmpty && certificate.verdict != .unspecified)
      #expect(m2.compatibleWith == (certified ? ["v1"] : []) && m1.compatibleWith == (certified ? ["v2"] : []))
      #expect(m2.compatibility == ["v1": certified ? .certified : .uncertified] && m1.compatibility["v2"] == m2.compatibility["v1"])
      #expect(m2.headFingerprint == v2.manifest.head.fingerprint && m2.isDefault && !m1.isDefault)
      #expect(m2.training.compatibilityObjective == "contrastive" && m2.architectureParameters["hidden"] != nil)
      #expect(abs(m2.inputNormalization.scale - 1 / 255) < 1e-6)

      // Good input: the embeddings equal the model's own, L2-normalised by default.
      let values = Self.pixels(3 * 784)
      let response = try await client.embed(Self.request(shape: [3, 1, 28, 28], values: values))
      #expect(response.modelVersion == "v2" && response.normalization == .l2)
      #expect(response.embeddings.shape == [3, 128])
      let expected = v2.backbone.embed(Matrix(rows: 3, columns: 784, values: values)).l2NormalizedRows()
      for (a, b) in zip(response.embeddings.values, expected.values) { #expect(abs(a - b) < 1e-4) }
      let raw = try await client.embed(Self.request(version: "v1", shape: [1, 1, 28, 28], values: Self.pixels(784), normalization: .none))
      #expect(raw.modelVersion == "v1" && raw.normalization == .none)
      let norm = raw.embeddings.values.reduce(0) { $0 + $1 * $1 }.squareRoot()
      #expect(abs(norm - 1) > 1e-3, "NORMALIZATION_NONE returns the raw backbone output")
      var bytesRequest = Self.request(shape: [1, 1, 28, 28], values: [])
      bytesRequest.inputs.float32Le = Data(Self.pixels(784).flatMap { v in withUnsafeBytes(of: v.bitPattern.littleEndian, Array.init) })
      #expect(try await client.embed(bytesRequest).embeddings.values.count == 128)

      // Bad inputs, each with its status, and the service still answers afterwards.
      await Self.expectStatus(.invalidArgument, containing: "does not match [N, 1, 28, 28]") {
        try await client.embed(Self.request(shape: [2, 784], values: Self.pixels(2 * 784)))
      }
      await Self.expectStatus(.invalidArgument, containing: "empty batch") {
        try await client.embed(Self.request(shape: [0, 1, 28, 28], values: []))
      }
      await Self.expectStatus(.invalidArgument, containing: "inputs: missing") {
        try await client.embed(Bct_V1_EmbedRequest())
      }
      var nan = Self.pixels(784)
      nan[100] = .nan
      await Self.expectStatus(.invalidArgument, containing: "NaN and Inf") {
        try await client.embed(Self.request(shape: [1, 1, 28, 28], values: nan))
      }
      await Self.expectStatus(.notFound, containing: "known versions: v1, v2") {
        try await client.embed(Self.request(version: "v9", shape: [1, 1, 28, 28], values: Self.pixels(784)))
      }
      await Self.expectStatus(.resourceExhausted, containing: "over the maximum of 64") {
        try await client.embed(Self.request(shape: [65, 1, 28, 28], values: Self.pixels(65 * 784)))
      }
      await Self.expectStatus(.resourceExhausted, containing: "over the server's limit of 1048576 bytes") {
        try await client.embed(Self.request(version: "v1", shape: [400, 1, 28, 28], values: Self.pixels(400 * 784)))
      }
      #expect(try await client.embed(Self.request(shape: [1, 1, 28, 28], values: Self.pixels(784))).embeddings.shape == [1, 128])

      // Concurrent single-input calls are coalesced into fewer forward passes.
      try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<16 {
          group.addTask { _ = try await client.embed(Self.request(version: "v1", shape: [1, 1, 28, 28], values: Self.pixels(784))) }
        }
        try await group.waitForAll()
      }

      // Prometheus metrics over HTTP.
      let metricsURL = URL(string: "http://127.0.0.1:\(encoder.metricsPort!)/metrics")!
      let (data, _) = try await URLSession.shared.data(from: metricsURL)
      let metrics = String(decoding: data, as: UTF8.self)
      #expect(metrics.contains(#"bct_rpc_requests_total{service="encoder",method="Embed",version="v2",code="ok"}"#))
      #expect(metrics.contains(#"code="invalid_argument""#) && metrics.contains(#"code="not_found""#))
      #expect(metrics.contains("bct_rpc_duration_seconds_bucket") && metrics.contains("bct_encoder_batch_rows_bucket"))
      #expect(metrics.contains("bct_encoder_queue_rows") && metrics.contains("bct_encoder_models_loaded 2"))
      let v1Passes = metrics.split(separator: "\n").first { $0.hasPrefix(#"bct_encoder_batch_requests_count{version="v1"}"#) }
      let v1Rows = metrics.split(separator: "\n").first { $0.hasPrefix(#"bct_encoder_embedded_rows_total{version="v1"}"#) }
      #expect(v1Passes != nil && v1Rows != nil)
      if let v1Passes, let v1Rows {
        #expect(Double(v1Passes.split(separator: " ").last!)! < Double(v1Rows.split(separator: " ").last!)!,
                "16 concurrent calls should share passes: \(v1Passes), \(v1Rows)")
      }

      // SIGTERM while a health watch is open: the watch sees NOT_SERVING and ends.
      let statuses = try await health.watch(.with { $0.service = "bct.v1.Encoder" }) { response in
        var statuses: [Grpc_Health_V1_HealthCheckResponse.ServingStatus] = []
        for try await message in response.messages {
          statuses.append(message.status)
          if statuses.count == 1 { encoder.send(signal: SIGTERM) }
        }
        return statuses
      }
      #expect(statuses == [.serving, .notServing])
    }
    let status = await encoder.waitForExit(timeout: .seconds(20))
    #expect(status == 0, "exit status \(String(describing: status)); log:\n\(encoder.logTail)")
  }

  @Test("hot reload on SIGHUP: a new version appears and becomes the default; NOT_SERVING while the repository is empty")
  func hotReload() async throws {
    let repo = FileManager.default.temporaryDirectory.appendingPathComponent("bct-encoder-reload-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: repo, withIntermediateDirectories: true)
    let encoder = try await Self.startEncoder(repo, extra: ["--reload-interval", "0"])
    defer { Task { await encoder.kill9() } }
    try await Self.withClients(port: encoder.port) { client, health in
      #expect(try await health.check(.with { $0.service = "" }).status == .notServing)
      await Self.expectStatus(.unavailable, containing: "no model version is loaded") {
        try await client.embed(Self.request(shape: [1, 1, 28, 28], values: Self.pixels(784)))
      }
      try FileManager.default.copyItem(at: try await Self.repository().appendingPathComponent("v1"), to: repo.appendingPathComponent("v1"))
      encoder.send(signal: SIGHUP)
      try await Self.eventually { try await client.listModels(Bct_V1_ListModelsRequest()).models.map(\.version) == ["v1"] }
      #expect(try await health.check(.with { $0.service = "bct.v1.Encoder" }).status == .serving)

      // A copy of v2 under a new name and a newer date: picked up, and the newest becomes the default.
      let v3 = repo.appendingPathComponent("v3")
      try FileManager.default.copyItem(at: try await Self.repository().appendingPathComponent("v2"), to: v3)
      var manifest = try Manifest.decode(Data(contentsOf: v3.appendingPathComponent(ModelVersion.manifestFile)))
      manifest.version = "v3"
      manifest.createdAt = "2999-01-01T00:00:00Z"
      try manifest.encoded().write(to: v3.appendingPathComponent(ModelVersion.manifestFile))
      encoder.send(signal: SIGHUP)
      try await Self.eventually { try await client.listModels(Bct_V1_ListModelsRequest()).defaultVersion == "v3" }
      let response = try await client.embed(Self.request(shape: [1, 1, 28, 28], values: Self.pixels(784)))
      #expect(response.modelVersion == "v3")
    }
    #expect(await encoder.terminate() == 0)
  }

  static func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
      if try await condition() { return }
      try await Task.sleep(for: .milliseconds(50))
    }
    Issue.record("condition not met within \(timeout)")
  }
}
