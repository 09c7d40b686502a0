import BCTRuntime
import ArgumentParser
import BCTClient
import BCTData
import BCTNumerics
import BCTProto
import BCTTracing
import Foundation
import GRPCCore
import Logging
import Tracing

/// Where the services are and how long a call may take.
struct ConnectionOptions: ParsableArguments {
  @Option(help: "The encoder, HOST:PORT. Env BCT_ENCODER.")
  var encoder: String = EnvironmentDefault.string("BCT_ENCODER", "127.0.0.1:50051")

  @Option(help: "The retrieval service, HOST:PORT. Env BCT_RETRIEVAL.")
  var retrieval: String = EnvironmentDefault.string("BCT_RETRIEVAL", "127.0.0.1:50052")

  @Option(help: "The retrieval collection (empty: the default one). Env BCT_COLLECTION.")
  var collection: String = EnvironmentDefault.string("BCT_COLLECTION", "")

  @Option(help: "Seconds each call may take. Env BCT_DEADLINE.")
  var deadline: Double = EnvironmentDefault.double("BCT_DEADLINE", 30)

  @Flag(help: "Print JSON instead of a table.")
  var json = false

  @Option(name: .customLong("ca"), help: "PEM CA that signed the services' TLS certificates; turns TLS on. Env BCT_CA.")
  var caText: String = ""

  @Option(name: .customLong("cert"), help: "PEM client certificate for mutual TLS. Env BCT_CERT.")
  var certText: String = ""

  @Option(name: .customLong("key"), help: "PEM private key of --cert. Env BCT_KEY.")
  var keyText: String = ""

  @Option(name: .customLong("token"), help: "Bearer token for the services. Env BCT_TOKEN (preferred: flags show in ps).")
  var tokenText: String = ""

  @Option(help: "Continue this W3C trace (a traceparent value) instead of starting a new one. Env TRACEPARENT.")
  var traceparent: String = EnvironmentDefault.string("TRACEPARENT", "")

  @Option(help: "Log level of this command's lines on standard error; info logs each command with its trace id. Env BCT_CLI_LOG_LEVEL.")
  var logLevel: String = EnvironmentDefault.string("BCT_CLI_LOG_LEVEL", "warning")

  var security: ClientSecurity { ClientSecurity(caFile: ca, certificateFile: cert, keyFile: key, token: token) }

  /// `--ca`, nil when not given.
  var ca: String? { caText.isEmpty ? EnvironmentDefault.optional("BCT_CA") : caText }

  /// `--cert`, nil when not given.
  var cert: String? { certText.isEmpty ? EnvironmentDefault.optional("BCT_CERT") : certText }

  /// `--key`, nil when not given.
  var key: String? { keyText.isEmpty ? EnvironmentDefault.optional("BCT_KEY") : keyText }

  /// `--token`, nil when not given.
  var token: String? { tokenText.isEmpty ? EnvironmentDefault.optional("BCT_TOKEN") : tokenText }

  func validate() throws {
    _ = try ServiceAddress(parsing: encoder)
    _ = try ServiceAddress(parsing: retrieval)
    guard deadline > 0, deadline <= 86_400 else { throw ValidationError("--deadline must be positive and at most 86400 seconds; got \(deadline)") }
    guard (cert == nil) == (key == nil) else { throw ValidationError("--cert and --key go together") }
    guard traceparent.isEmpty || Telemetry.isTraceparent(traceparent) else {
      throw ValidationError("--traceparent must be a W3C traceparent (00-<32 hex>-<16 hex>-<2 hex>); got \(traceparent)")
    }
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError("--log-level must be one of trace, debug, info, notice, warning, error, critical; got \(logLevel)")
    }
  }

  /// The telemetry of the command being run (set by `traced`).
  @TaskLocal static var telemetry: Telemetry?

  /// Runs the client command `name` as one span of a trace (a new trace, or
  /// `--traceparent`'s): every call it makes carries the trace to the services,
  /// the command's log line names it, and an RPC error becomes
  /// `bct: CODE: message (trace_id ...)` on standard error and exit status 1.
  /// With `OTEL_EXPORTER_OTLP_ENDPOINT` set, the span is exported before the command returns.
  func traced(_ name: String, _ body: () async throws -> Void) async throws {
    let telemetry = try Telemetry.make(serviceName: "bct")
    var logger = Logger(label: "bct") { LineLogHandler(label: $0, format: .text, metadataProvider: Telemetry.metadataProvider) }
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
    let parent = telemetry.context(continuing: traceparent.isEmpty ? [:] : ["traceparent": traceparent])
    try await telemetry.running {
      try await ConnectionOptions.$telemetry.withValue(telemetry) {
        try await telemetry.withSpan("bct \(name)", context: parent, ofKind: .client) { span in
          try await run(name, span: span, logger: logger, body)
        }
      }
    }
  }

  /// `body` in the command's span, with its log line and its failure message.
  private func run(_ name: String, span: any Span, logger: Logger, _ body: () async throws -> Void) async throws {
    let start = ContinuousClock.now
    var metadata: Logger.Metadata = ["command": "\(name)"]
    do {
      try await body()
      metadata["ms"] = "\(Int(((ContinuousClock.now - start) / .milliseconds(1)).rounded()))"
      logger.info("command finished", metadata: metadata)
    } catch let error as RPCError {
      let code = StatusName.of(error).uppercased()
      metadata["code"] = "\(code)"
      span.setStatus(SpanStatus(code: .error, message: code))
      logger.info("command failed", metadata: metadata)
      let trace = Telemetry.metadataProvider.get()["trace_id"].map { " (trace_id \($0))" } ?? ""
      FileHandle.standardError.write(Data("bct: \(code): \(error.message)\(trace)\n".utf8))
      throw ExitCode(1)
    }
  }

  var timeout: Duration { .seconds(deadline) }

  /// Runs `body` with an encoder client.
  func withEncoder<R: Sendable>(_ body: (EncoderClient) async throws -> R) async throws -> R {
    try await withConnection(to: ServiceAddress(parsing: encoder), security: security, telemetry: Self.telemetry) {
      try await body(EncoderClient($0))
    }
  }

  /// Runs `body` with a retrieval client.
  func withRetrieval<R: Sendable>(_ body: (RetrievalClient) async throws -> R) async throws -> R {
    try await withConnection(to: ServiceAddress(parsing: retrieval), security: security, telemetry: Self.telemetry) {
      try await body(RetrievalClient($0, collection: collection))
    }
  }
}

/// Inputs for embed, index and search: a file or a split of the built-in dataset.
struct InputOptions: ParsableArguments {
  @Option(help: "An .npy or IDX file (optionally gzipped) whose first axis lists the inputs.")
  var file: String?

  @Option(help: "A split of the built-in Fashion-MNIST: train or test.")
  var split: String?

  @Option(help: "Items A-B (inclusive) of the file or split, e.g. 0-99; default all.")
  var range: String?

  @Option(help: "Folder of the built-in dataset.")
  var dataDir: String = DataSource.debianFashionMNIST

  func validate() throws {
    guard (file == nil) != (split == nil) else { throw ValidationError("give exactly one of --file and --split") }
    if let split, split != "train" && split != "test" { throw ValidationError("--split must be train or test; got \(split)") }
    if let range { _ = try Self.parseRange(range) }
  }

  /// The selected inputs (one row each), their labels when known, and the index of the first.
  func load() throws -> (inputs: Matrix, labels: [Int]?, first: Int, source: String) {
    let all: Matrix
    let labels: [Int]?
    let source: String
    if let file {
      let array = try ArrayFile.read(path: file)
      guard array.shape.count >= 1, array.shape[0] > 0 else { throw ValidationError("\(file) holds no items (shape \(array.shape))") }
      all = Matrix(rows: array.shape[0], columns: array.values.count / array.shape[0], values: array.values)
      labels = nil
      source = URL(fileURLWithPath: file).lastPathComponent
    } else {
      let data = try DataSource.fashionMNIST(directory: dataDir).load(split == "train" ? .train : .test)
      all = data.inputs
      labels = data.labels
      source = "fashion-mnist/\(split!)"
    }
    var (start, end) = (0, all.rows - 1)
    if let range { (start, end) = try Self.parseRange(range) }
    guard start <= end, end < all.rows else {
      throw ValidationError("--range \(start)-\(end) is outside the \(all.rows) items of \(source)")
    }
    return (all.rows(start..<(end + 1)), labels.map { Array($0[start...end]) }, start, source)
  }

  static func parseRange(_ text: String) throws -> (Int, Int) {
    let parts = text.split(separator: "-", omittingEmptySubsequences: false)
    if parts.count == 1, let one = Int(parts[0]), one >= 0 { return (one, one) }
    guard parts.count == 2, let a = Int(parts[0]), let b = Int(parts[1]), a >= 0, b >= a else {
      throw ValidationError("--range must look like A-B with 0 <= A <= B; got \(text)")
    }
    return (a, b)
  }
}

/// The input shape of `version` (or the default) from the encoder's listing.
func inputShape(of version: String, in listing: Bct_V1_ListModelsResponse) throws -> [Int] {
  let name = version.isEmpty ? listing.defaultVersion : version
  guard let model = listing.models.first(where: { $0.version == name }) else {
    throw RPCError(code: .notFound, message: "the encoder hosts no version \"\(name)\"; known: \(listing.models.map(\.version).joined(separator: ", "))")
  }
  return model.inputShape.map(Int.init)
}

/// Checks that rows of `width` values fit `shape`.
func checkWidth(_ width: Int, fits shape: [Int], source: String) throws {
  guard width == shape.reduce(1, *) else {
    throw ValidationError("items of \(source) have \(width) values; the model takes \(shape) = \(shape.reduce(1, *))")
  }
}

/// Prints `object` as one line of JSON.
func printJSON(_ object: Any) throws {
  let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
  print(String(decoding: data, as: UTF8.self))
}

/// Pads or cuts `text` to `width` columns.
func column(_ text: String, _ width: Int) -> String {
  text.count >= width ? String(text.prefix(width)) : text + String(repeating: " ", count: width - text.count)
}
