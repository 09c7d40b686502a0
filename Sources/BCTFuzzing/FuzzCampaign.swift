import BCTNumerics
import BCTProto
import BCTProtoC
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2

/// A fuzzing run against live services: schema-generated requests for every
/// RPC of both, sent as raw bytes (so the servers' decoding is fuzzed too).
/// A case fails when a call ends UNKNOWN or INTERNAL, when a service stops
/// answering (its process died), or when health leaves SERVING. Every case has
/// its own seed, derived from the run's seed and its number, so any one replays.
public struct FuzzCampaign: Sendable {
  /// One RPC under test.
  public struct Target: Sendable {
    /// "Service/Method".
    public var name: String
    /// Which connection: the encoder's or the retrieval service's.
    public var retrieval: Bool
    /// The method.
    public var method: MethodDescriptor
    /// The request type's schema (protoc-c descriptor).
    public var schema: @Sendable () -> UnsafePointer<ProtobufCMessageDescriptor>
  }

  /// Every RPC of bct.v1.Encoder, bct.v1.Retrieval and grpc.health.v1.Health.
  public static let targets: [Target] = [
    Target(name: "Encoder/Embed", retrieval: false, method: Bct_V1_Encoder.Method.Embed.descriptor) { Self.schema("bct.v1.EmbedRequest") },
    Target(name: "Encoder/ListModels", retrieval: false, method: Bct_V1_Encoder.Method.ListModels.descriptor) { Self.schema("bct.v1.ListModelsRequest") },
    Target(name: "Encoder/Health.Check", retrieval: false, method: Grpc_Health_V1_Health.Method.Check.descriptor) { Self.schema("grpc.health.v1.HealthCheckRequest") },
    Target(name: "Retrieval/Upsert", retrieval: true, method: Bct_V1_Retrieval.Method.Upsert.descriptor) { Self.schema("bct.v1.UpsertRequest") },
    Target(name: "Retrieval/Delete", retrieval: true, method: Bct_V1_Retrieval.Method.Delete.descriptor) { Self.schema("bct.v1.DeleteRequest") },
    Target(name: "Retrieval/Search", retrieval: true, method: Bct_V1_Retrieval.Method.Search.descriptor) { Self.schema("bct.v1.SearchRequest") },
    Target(name: "Retrieval/Backfill", retrieval: true, method: Bct_V1_Retrieval.Method.Backfill.descriptor) { Self.schema("bct.v1.BackfillRequest") },
    Target(name: "Retrieval/Stats", retrieval: true, method: Bct_V1_Retrieval.Method.Stats.descriptor) { Self.schema("bct.v1.StatsRequest") },
    Target(name: "Retrieval/Get", retrieval: true, method: Bct_V1_Retrieval.Method.Get.descriptor) { Self.schema("bct.v1.GetRequest") },
    Target(name: "Retrieval/List", retrieval: true, method: Bct_V1_Retrieval.Method.List.descriptor) { Self.schema("bct.v1.ListRequest") },
    Target(name: "Retrieval/CreateCollection", retrieval: true, method: Bct_V1_Retrieval.Method.CreateCollection.descriptor) {
      Self.schema("bct.v1.CreateCollectionRequest")
    },
    Target(name: "Retrieval/DropCollection", retrieval: true, method: Bct_V1_Retrieval.Method.DropCollection.descriptor) {
      Self.schema("bct.v1.DropCollectionRequest")
    },
    Target(name: "Retrieval/ListCollections", retrieval: true, method: Bct_V1_Retrieval.Method.ListCollections.descriptor) {
      Self.schema("bct.v1.ListCollectionsRequest")
    },
    Target(name: "Retrieval/Health.Check", retrieval: true, method: Grpc_Health_V1_Health.Method.Check.descriptor) { Self.schema("grpc.health.v1.HealthCheckRequest") },
  ]

  /// The schema of a request message by full name (every target's is in the C binding).
  static func schema(_ name: String) -> UnsafePointer<ProtobufCMessageDescriptor> {
    guard let descriptor = bct_c_message_descriptor(name) else { preconditionFailure("no descriptor for \(name) in BCTProtoC") }
    return descriptor
  }

  /// A failed case, with what replays it.
  public struct Failure: Sendable, CustomStringConvertible {
    /// The run's seed and the case number: `--seed S --case N` replays it.
    public var seed: UInt64
    public var caseNumber: Int
    public var target: String
    public var problem: String
    /// The request bytes, hex, first 256.
    public var request: String

    public var description: String {
      "case \(caseNumber) of seed \(seed) (\(target)): \(problem); request \(request)"
    }
  }

  /// What a run did.
  public struct Report: Sendable {
    /// Cases sent.
    public var cases = 0
    /// Status codes seen, by name.
    public var codes: [String: Int] = [:]
    /// Failed cases.
    public var failures: [Failure] = []
  }

  /// The run's seed.
  public var seed: UInt64
  /// Version names the generator prefers.
  public var versions: [String]

  /// A campaign from `seed`.
  public init(seed: UInt64, versions: [String]) {
    self.seed = seed
    self.versions = versions
  }

  /// The target and request bytes of case `number`.
  public func request(_ number: Int) -> (Target, [UInt8]) {
    var fuzzer = SchemaFuzzer(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(number), versions: versions)
    let target = Self.targets[number % Self.targets.count]
    return (target, fuzzer.message(target.schema()))
  }

  /// Sends cases `range` (or until `deadline`), `concurrency` at a time, through
  /// `encoder` and `retrieval`; `alive` says whether both processes still run.
  public func run(
    cases range: Range<Int>, until deadline: ContinuousClock.Instant, concurrency: Int,
    encoder: GRPCClient<HTTP2ClientTransport.Posix>, retrieval: GRPCClient<HTTP2ClientTransport.Posix>,
    alive: @escaping @Sendable () -> Bool
  ) async -> Report {
    var report = Report()
    var next = range.lowerBound
    await withTaskGroup(of: (Int, String, String?).self) { group in
      func launch() -> Bool {
        guard next < range.upperBound, ContinuousClock.now < deadline else { return false }
        let number = next
        next += 1
        let (target, bytes) = request(number)
        group.addTask {
          let client = target.retrieval ? retrieval : encoder
          let code = await Self.send(bytes, to: target.method, via: client)
          let problem: String?
          switch code {
          case "unknown", "internalError": problem = "status \(code)"
          case "transport" where !alive(): problem = "the service process died"
          default: problem = nil
          }
          return (number, code, problem)
        }
        return true
      }
      for _ in 0..<concurrency where launch() {}
      while let (number, code, problem) = await group.next() {
        report.cases += 1
        report.codes[code, default: 0] += 1
        if let problem {
          let (target, bytes) = request(number)
          report.failures.append(Failure(seed: seed, caseNumber: number, target: target.name, problem: problem,
                                         request: bytes.prefix(256).map { String(format: "%02x", $0) }.joined()))
        }
        if number % 50 == 0, let health = await Self.healthProblem(encoder: encoder, retrieval: retrieval) {
          report.failures.append(Failure(seed: seed, caseNumber: number, target: "health", problem: health, request: ""))
        }
        if !alive() {
          report.failures.append(Failure(seed: seed, caseNumber: number, target: "process", problem: "a service process died", request: ""))
          group.cancelAll()
          return
        }
        _ = launch()
      }
    }
    return report
  }

  /// The outcome of one raw call: "ok", a status code name, or "transport".
  static func send(_ bytes: [UInt8], to method: MethodDescriptor, via client: GRPCClient<HTTP2ClientTransport.Posix>) async -> String {
    var options = CallOptions.defaults
    options.timeout = .seconds(20)
    do {
      if method.type == .serverStreaming {
        try await client.serverStreaming(
          request: ClientRequest(message: bytes), descriptor: method, serializer: RawSerializer(), deserializer: RawDeserializer(),
          options: options
        ) { response in
          // A few progress messages are enough; the job keeps running on the server.
          var seen = 0
          for try await _ in response.messages {
            seen += 1
            if seen >= 2 { break }
          }
        }
      } else {
        try await client.unary(
          request: ClientRequest(message: bytes), descriptor: method, serializer: RawSerializer(), deserializer: RawDeserializer(),
          options: options
        ) { response in _ = try response.message }
      }
      return "ok"
    } catch let error as RPCError {
      return error.code == .unavailable && error.message.lowercased().contains("transport") ? "transport" : "\(error.code)"
    } catch {
      return "transport"
    }
  }

  /// Why health is not SERVING on both services, or nil.
  static func healthProblem(encoder: GRPCClient<HTTP2ClientTransport.Posix>, retrieval: GRPCClient<HTTP2ClientTransport.Posix>) async -> String? {
    for (name, client) in [("encoder", encoder), ("retrieval", retrieval)] {
      do {
        let response = try await Grpc_Health_V1_Health.Client(wrapping: client).check(Grpc_Health_V1_HealthCheckRequest())
        if response.status != .serving { return "\(name) health is \(response.status)" }
      } catch {
        return "\(name) health check failed: \(error)"
      }
    }
    return nil
  }
}

/// Sends bytes as they are.
struct RawSerializer: MessageSerializer {
  func serialize<Bytes: GRPCContiguousBytes>(_ message: [UInt8]) throws -> Bytes { Bytes(message) }
}

/// Takes any reply as bytes.
struct RawDeserializer: MessageDeserializer {
  func deserialize<Bytes: GRPCContiguousBytes>(_ serializedMessageBytes: Bytes) throws -> [UInt8] {
    serializedMessageBytes.withUnsafeBytes { Array($0) }
  }
}
