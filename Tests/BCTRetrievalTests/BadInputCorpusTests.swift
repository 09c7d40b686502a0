import BCTClient
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import GRPCProtobuf
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// Malformed requests over real gRPC, each with its exact status code; then random
/// bytes and truncated HTTP/2 frames at both ports. The services must keep answering.
@Suite("Bad input corpus", .serialized)
struct BadInputCorpusTests {
  typealias Case = (name: String, code: RPCError.Code, call: @Sendable () async throws -> Void)

  static func tensor(_ shape: [Int64], _ values: [Float]) -> Bct_V1_Tensor {
    Bct_V1_Tensor.with { $0.shape = shape; $0.values = values }
  }

  static func image(_ n: Int = 1, poison: (Int, Float)? = nil) -> [Float] {
    var values = (0..<(n * 784)).map { Float($0 % 256) }
    if let (i, v) = poison { values[i] = v }
    return values
  }

  static func encoderCases(_ client: EncoderClient, raw: GRPCClient<ChannelTransport>) -> [Case] {
    let stub = Bct_V1_Encoder.Client(wrapping: raw)
    func embed(_ request: Bct_V1_EmbedRequest) -> @Sendable () async throws -> Void {
      { _ = try await stub.embed(request) }
    }
    func shaped(_ shape: [Int64], _ values: [Float], version: String = "") -> Bct_V1_EmbedRequest {
      Bct_V1_EmbedRequest.with { $0.modelVersion = version; $0.inputs = tensor(shape, values) }
    }
    var cases: [Case] = []
    for shape: [Int64] in [[3, 784], [1, 784], [1, 28, 28], [1, 1, 28], [1, 1, 28, 27], [1, 2, 28, 28], [1, 1, 1, 28, 28],
                           [2, 1, 28, 28], [1, 1, 784, 1], [28, 28, 1, 1], [1, 1, 14, 56], [1, 4, 14, 14], [1, 1, 29, 28],
                           [1, 784, 1, 1], [1, 1, 27, 29], [1, 1, 28, 28, 1], [4, 1, 14, 14]] {
      cases.append(("shape \(shape)", .invalidArgument, embed(shaped(shape, image(1)))))
    }
    cases.append(("batch dimension Int64.max", .resourceExhausted, embed(shaped([Int64.max, 1, 28, 28], image(1)))))
    for shape: [Int64] in [[], [0, 1, 28, 28], [-1, 1, 28, 28], [1, 0, 28, 28], [1, 1, -28, 28]] {
      cases.append(("degenerate shape \(shape)", .invalidArgument, embed(shaped(shape, image(1)))))
    }
    for (i, v) in [(0, Float.nan), (783, .nan), (400, .infinity), (1, -.infinity), (392, .signalingNaN),
                   (27, .infinity), (28, -.nan), (500, -.infinity)] {
      cases.append(("non-finite at \(i)", .invalidArgument, embed(shaped([1, 1, 28, 28], image(1, poison: (i, v))))))
    }
    cases.append(("no inputs", .invalidArgument, embed(Bct_V1_EmbedRequest())))
    cases.append(("no data", .invalidArgument, embed(shaped([1, 1, 28, 28], []))))
    cases.append(("too few values", .invalidArgument, embed(shaped([2, 1, 28, 28], image(1)))))
    cases.append(("too many values", .invalidArgument, embed(shaped([1, 1, 28, 28], image(2)))))
    cases.append(("values and bytes", .invalidArgument, embed(Bct_V1_EmbedRequest.with {
      $0.inputs = tensor([1, 1, 28, 28], image(1)); $0.inputs.float32Le = Data(count: 3136)
    })))
    cases.append(("bytes not a multiple of 4", .invalidArgument, embed(Bct_V1_EmbedRequest.with {
      $0.inputs.shape = [1, 1, 28, 28]; $0.inputs.float32Le = Data(count: 3135)
    })))
    cases.append(("bytes too short", .invalidArgument, embed(Bct_V1_EmbedRequest.with {
      $0.inputs.shape = [1, 1, 28, 28]; $0.inputs.float32Le = Data(count: 3132)
    })))
    cases.append(("unknown normalization", .invalidArgument, embed(Bct_V1_EmbedRequest.with {
      $0.inputs = tensor([1, 1, 28, 28], image(1)); $0.normalization = .UNRECOGNIZED(42)
    })))
    for version in ["v9", "V1", "v1 ", " v1", "v1\u{0}", "ünïcødé", String(repeating: "x", count: 5000), "../v1", "v2/..", "*"] {
      cases.append(("unknown version \(version.prefix(12))", .notFound, embed(shaped([1, 1, 28, 28], image(1), version: version))))
    }
    cases.append(("batch over max", .resourceExhausted, embed(shaped([65, 1, 28, 28], image(65)))))
    cases.append(("batch far over max", .resourceExhausted, embed(shaped([100_000, 1, 28, 28], image(1)))))
    cases.append(("payload over limit", .resourceExhausted, embed(shaped([400, 1, 28, 28], image(400)))))
    cases.append(("bad utf-8 version", .invalidArgument, {
      // field 1 (model_version), length 2, bytes FF FE: not UTF-8.
      _ = try await raw.unary(
        request: ClientRequest(message: [0x0A, 0x02, 0xFF, 0xFE]), descriptor: Bct_V1_Encoder.Method.Embed.descriptor,
        serializer: RawBytes(), deserializer: ProtobufDeserializer<Bct_V1_EmbedResponse>(), options: .defaults
      ) { try $0.message }
    }))
    cases.append(("garbage message", .invalidArgument, {
      _ = try await raw.unary(
        request: ClientRequest(message: [0xFF, 0xFF, 0xFF, 0xFF, 0x0F]), descriptor: Bct_V1_Encoder.Method.Embed.descriptor,
        serializer: RawBytes(), deserializer: ProtobufDeserializer<Bct_V1_EmbedResponse>(), options: .defaults
      ) { try $0.message }
    }))
    _ = client
    return cases
  }

  static func retrievalCases(_ client: RetrievalClient, raw: GRPCClient<ChannelTransport>, x1Embedding: [Float]) -> [Case] {
    func upsert(_ docs: [Bct_V1_Document], version: String = "") -> @Sendable () async throws -> Void {
      { _ = try await client.upsert(Bct_V1_UpsertRequest.with { $0.documents = docs; $0.modelVersion = version }) }
    }
    func doc(_ id: String, input: [Float]? = image(), shape: [Int64] = [1, 28, 28]) -> Bct_V1_Document {
      Bct_V1_Document.with { d in
        d.id = id
        if let input { d.input = tensor(shape, input) }
      }
    }
    func embedded(_ id: String, version: String = "v1", values: [Float] = Array(repeating: 0.1, count: 128)) -> Bct_V1_Document {
      Bct_V1_Document.with { $0.id = id; $0.embedding.modelVersion = version; $0.embedding.values = values }
    }
    func search(_ configure: @escaping @Sendable (inout Bct_V1_SearchRequest) -> Void) -> @Sendable () async throws -> Void {
      { var request = Bct_V1_SearchRequest(); configure(&request); _ = try await client.search(request) }
    }
    func embeddingQuery(_ values: [Float], version: String = "v1", rows: Int64 = 1, k: Int32 = 5) -> @Sendable () async throws -> Void {
      search { $0.embeddings.modelVersion = version; $0.embeddings.vectors = tensor([rows, Int64(values.count) / max(rows, 1)], values); $0.k = k }
    }
    func backfill(_ configure: @escaping @Sendable (inout Bct_V1_BackfillRequest) -> Void) -> @Sendable () async throws -> Void {
      { var request = Bct_V1_BackfillRequest(); configure(&request); _ = try await client.backfill(request) }
    }
    let unit = (0..<128).map { _ in Float(1 / 128.0.squareRoot()) }
    var cases: [Case] = [
      ("upsert: no documents", .invalidArgument, upsert([])),
      ("upsert: duplicate ids", .invalidArgument, upsert([doc("a"), doc("a")])),
      ("upsert: empty id", .invalidArgument, upsert([doc("")])),
      ("upsert: id of 513 bytes", .invalidArgument, upsert([doc(String(repeating: "i", count: 513))])),
      ("upsert: id of 600 multi-byte", .invalidArgument, upsert([doc(String(repeating: "é", count: 300))])),
      ("upsert: metadata too large", .invalidArgument, upsert([Bct_V1_Document.with { $0.id = "m"; $0.input = tensor([1, 28, 28], image()); $0.metadata = ["k": String(repeating: "v", count: 20000)] }])),
      ("upsert: many metadata keys", .invalidArgument, upsert([Bct_V1_Document.with { d in d.id = "m2"; d.input = tensor([1, 28, 28], image()); for i in 0..<3000 { d.metadata["key-\(i)"] = "value-\(i)" } }])),
      ("upsert: neither input nor embedding", .invalidArgument, upsert([doc("n", input: nil)])),
      ("upsert: embedding without version", .invalidArgument, upsert([embedded("e", version: "")])),
      ("upsert: embedding of unknown version", .notFound, upsert([embedded("e", version: "v9")])),
      ("upsert: embedding of wrong dimension", .invalidArgument, upsert([embedded("e", values: [1, 2, 3])])),
      ("upsert: embedding with NaN", .invalidArgument, upsert([embedded("e", values: Array(repeating: .nan, count: 128))])),
      ("upsert: embedding with Inf", .invalidArgument, upsert([embedded("e", values: [.infinity] + Array(repeating: 0, count: 127))])),
      ("upsert: input of wrong shape", .invalidArgument, upsert([doc("s", shape: [28, 28])])),
      ("upsert: input 27x28", .invalidArgument, upsert([doc("s", input: Array(repeating: 1, count: 756), shape: [1, 27, 28])])),
      ("upsert: input with NaN", .invalidArgument, upsert([doc("s", input: image(1, poison: (5, .nan)))])),
      ("upsert: input too short", .invalidArgument, upsert([doc("s", input: [1, 2, 3])])),
      ("upsert: raw with unknown version", .notFound, upsert([doc("s")], version: "v7")),
      ("upsert: over max documents", .resourceExhausted, upsert((0..<1025).map { embedded("many-\($0)") })),
      ("upsert: other lineage", .failedPrecondition, upsert([embedded("x", version: "x1", values: x1Embedding)])),
      ("upsert: raw with other lineage", .failedPrecondition, upsert([doc("x")], version: "x1")),
      ("delete: no ids", .invalidArgument, { _ = try await client.delete(Bct_V1_DeleteRequest()) }),
      ("delete: missing id", .notFound, { _ = try await client.delete(.with { $0.ids = ["no-such-doc"] }) }),
      ("delete: empty id", .invalidArgument, { _ = try await client.delete(.with { $0.ids = [""] }) }),
      ("delete: id too long", .invalidArgument, { _ = try await client.delete(.with { $0.ids = [String(repeating: "d", count: 600)] }) }),
      ("delete: over max ids", .resourceExhausted, { _ = try await client.delete(.with { $0.ids = (0..<1025).map { "d\($0)" } }) }),
      ("search: no query", .invalidArgument, search { $0.k = 5 }),
      ("search: k = 0", .invalidArgument, embeddingQuery(unit, k: 0)),
      ("search: k = -1", .invalidArgument, embeddingQuery(unit, k: -1)),
      ("search: k = 1001", .invalidArgument, embeddingQuery(unit, k: 1001)),
      ("search: k = Int32.max", .invalidArgument, embeddingQuery(unit, k: .max)),
      ("search: k = Int32.min", .invalidArgument, embeddingQuery(unit, k: .min)),
      ("search: embeddings without version", .invalidArgument, embeddingQuery(unit, version: "")),
      ("search: embeddings of unknown version", .notFound, embeddingQuery(unit, version: "zz")),
      ("search: embeddings of wrong dimension", .invalidArgument, embeddingQuery([1, 2, 3, 4])),
      ("search: embeddings with NaN", .invalidArgument, embeddingQuery([.nan] + Array(unit.dropFirst()))),
      ("search: embeddings other lineage", .failedPrecondition, embeddingQuery(x1Embedding, version: "x1")),
      ("search: too many query rows", .resourceExhausted, embeddingQuery(Array(repeating: 0.1, count: 128 * 300), rows: 300)),
      ("search: raw of wrong shape", .invalidArgument, search { $0.inputs = tensor([1, 28, 28], image()); $0.k = 3 }),
      ("search: raw with NaN", .invalidArgument, search { $0.inputs = tensor([1, 1, 28, 28], image(1, poison: (0, .nan))); $0.k = 3 }),
      ("search: raw, unknown query version", .notFound, search { $0.inputs = tensor([1, 1, 28, 28], image()); $0.k = 3; $0.queryModelVersion = "v0" }),
      ("search: raw, other lineage", .failedPrecondition, search { $0.inputs = tensor([1, 1, 28, 28], image()); $0.k = 3; $0.queryModelVersion = "x1" }),
      ("search: versions disagree", .invalidArgument, search { $0.embeddings.modelVersion = "v1"; $0.embeddings.vectors = tensor([1, 128], unit); $0.k = 3; $0.queryModelVersion = "v2" }),
      ("search: empty raw batch", .invalidArgument, search { $0.inputs = tensor([0, 1, 28, 28], []); $0.k = 3 }),
      ("backfill: empty target", .invalidArgument, backfill { _ in }),
      ("backfill: unknown target", .notFound, backfill { $0.targetVersion = "v5" }),
      ("backfill: other lineage", .failedPrecondition, backfill { $0.targetVersion = "x1" }),
      ("backfill: batch too large", .invalidArgument, backfill { $0.targetVersion = "v2"; $0.batchSize = 100_000 }),
      ("backfill: negative rate", .invalidArgument, backfill { $0.targetVersion = "v2"; $0.maxDocumentsPerSecond = -1 }),
      ("backfill: NaN rate", .invalidArgument, backfill { $0.targetVersion = "v2"; $0.maxDocumentsPerSecond = .nan }),
      ("backfill: stop with none running", .failedPrecondition, backfill { $0.targetVersion = "v2"; $0.stop = true }),
    ]
    cases.append(("delete: invalid UTF-8 id", .invalidArgument, {
      _ = try await raw.unary(
        request: ClientRequest(message: [0x0A, 0x03, 0x61, 0xC3, 0x28]), descriptor: Bct_V1_Retrieval.Method.Delete.descriptor,
        serializer: RawBytes(), deserializer: ProtobufDeserializer<Bct_V1_DeleteResponse>(), options: .defaults
      ) { try $0.message }
    }))
    return cases
  }

  @Test("over 50 malformed requests per service get their exact status; random bytes and torn HTTP/2 frames do no harm")
  func corpus() async throws {
    let encoder = try await Fixtures.startEncoder(try await RetrievalProcessTests.repository(), extra: ["--max-batch", "64", "--max-message-bytes", "1048576"])
    defer { Task { await encoder.kill9() } }
    let retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-corpus"))
    defer { Task { await retrieval.kill9() } }
    let encoderAddress = ServiceAddress(host: "127.0.0.1", port: encoder.port)
    let retrievalAddress = ServiceAddress(host: "127.0.0.1", port: retrieval.port)
    try await withConnection(to: encoderAddress) { encoderConnection in
      try await withConnection(to: retrievalAddress) { retrievalConnection in
        let encoderClient = EncoderClient(encoderConnection)
        let retrievalClient = RetrievalClient(retrievalConnection)
        // A v1 document so that lineage checks have something to compare with.
        _ = try await retrievalClient.upsert(.with { $0.documents = [.with { $0.id = "seed"; $0.input = Self.tensor([1, 28, 28], Self.image()) }]; $0.modelVersion = "v1" })
        let x1 = try await encoderClient.embed(.init(rows: 1, columns: 784, values: Self.image()), rowShape: [1, 28, 28], version: "x1").embeddings.values
        let suites = [
          ("encoder", Self.encoderCases(encoderClient, raw: encoderConnection)),
          ("retrieval", Self.retrievalCases(retrievalClient, raw: retrievalConnection, x1Embedding: x1)),
        ]
        for (service, cases) in suites {
          #expect(cases.count >= 50, "\(service) corpus has \(cases.count) cases")
          for item in cases {
            let error = await Fixtures.rpcError { try await item.call() }
            #expect(error?.code == item.code, "\(service) \(item.name): expected \(item.code), got \(String(describing: error))")
            #expect(!(error?.message.isEmpty ?? true), "\(service) \(item.name): the status has a message")
          }
        }
      }
    }

    // Random bytes and truncated HTTP/2 at both ports (loopback, bounded).
    var generator = SystemRandomNumberGenerator()
    for port in [encoder.port, retrieval.port] {
      for round in 0..<40 {
        var bytes: [UInt8]
        switch round % 4 {
        case 0: bytes = (0..<Int.random(in: 1...4096, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        case 1: bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0x00, 0x00, 0x12, 0x04, 0x00]
        case 2: bytes = Array("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".utf8) + [0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x00, 0x00, 0x00] + [0x00, 0x40, 0x00, 0x01, 0x05, 0x00, 0x00, 0x00, 0x01, 0x82]
        default: bytes = Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8)
        }
        Self.sendRaw(bytes, port: port)
      }
    }
    #expect(encoder.isRunning && retrieval.isRunning)
    let health = try await withConnection(to: retrievalAddress) { try await HealthClient($0).check() }
    let encoderHealth = try await withConnection(to: encoderAddress) { try await HealthClient($0).check() }
    #expect(health == .serving && encoderHealth == .serving)
    let stats = try await withConnection(to: retrievalAddress) { try await RetrievalClient($0).stats() }
    #expect(stats.documents == 1, "no malformed request changed the index")
    let retrievalExit = await retrieval.terminate()
    let encoderExit = await encoder.terminate()
    #expect(retrievalExit == 0 && encoderExit == 0)
  }

  /// Connects, writes `bytes`, reads briefly, closes.
  static func sendRaw(_ bytes: [UInt8], port: Int) {
    guard let fd = Fixtures.loopbackSocket(port: port, receiveTimeout: 200_000) else { return }
    defer { close(fd) }
    _ = bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    var buffer = [UInt8](repeating: 0, count: 1024)
    _ = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
  }

}

/// Sends pre-encoded bytes as the request message.
struct RawBytes: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}
