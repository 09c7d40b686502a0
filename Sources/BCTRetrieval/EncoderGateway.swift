import BCTClient
import BCTNumerics
import BCTProto
import BCTServing
import Foundation
import GRPCCore
import Logging
import Synchronization

/// What the retrieval service knows about a model version, from the encoder's ListModels.
public struct VersionInfo: Codable, Sendable, Equatable {
  /// Version name.
  public var version: String
  /// Lineage id: the root version's head fingerprint.
  public var lineage: String
  /// Embedding length.
  public var dimension: Int
  /// Shape of one raw input.
  public var inputShape: [Int]
  /// Position in the encoder's listing (oldest first within a lineage): newer is larger.
  public var order: Int
  /// How this version relates to every other hosted version (`ModelInfo.compatibility`).
  public var relations: [String: VersionRelation] = [:]
  /// This version's certificates, by older version.
  public var certificates: [String: CertificateQuote] = [:]

  /// A version as listed.
  public init(
    version: String, lineage: String, dimension: Int, inputShape: [Int], order: Int,
    relations: [String: VersionRelation] = [:], certificates: [String: CertificateQuote] = [:]
  ) {
    self.version = version
    self.lineage = lineage
    self.dimension = dimension
    self.inputShape = inputShape
    self.order = order
    self.relations = relations
    self.certificates = certificates
  }
}

/// The encoder's versions as last seen.
public struct ModelTable: Codable, Sendable, Equatable {
  /// Versions by name.
  public var versions: [String: VersionInfo] = [:]
  /// The encoder's default version.
  public var defaultVersion: String = ""

  /// The table of a ListModels response.
  public init(_ response: Bct_V1_ListModelsResponse) {
    defaultVersion = response.defaultVersion
    for (order, model) in response.models.enumerated() {
      versions[model.version] = VersionInfo(
        version: model.version, lineage: model.lineage, dimension: Int(model.embeddingDim),
        inputShape: model.inputShape.map(Int.init), order: order,
        relations: model.compatibility.mapValues { relation in
          switch relation {
          case .certified: return .certified
          case .uncertified: return .uncertified
          default: return .incompatible
          }
        },
        certificates: Dictionary(model.certificates.map { ($0.oldVersion, CertificateQuote($0)) }) { _, last in last })
    }
    self = servable
  }

  /// The table without versions whose sizes cannot be served (from a broken or
  /// hostile listing, or an edited cache file): every input shape multiplies out.
  public var servable: ModelTable {
    var table = self
    table.versions = versions.filter { _, info in
      info.dimension >= 1 && !info.inputShape.isEmpty && info.inputShape.allSatisfy { $0 >= 1 }
        && TensorCodec.checkedProduct(info.inputShape).map { $0 <= 1 << 28 } == true
    }
    return table
  }

  /// An empty table, or one built by hand.
  public init(versions: [String: VersionInfo] = [:], defaultVersion: String = "") {
    self.versions = versions
    self.defaultVersion = defaultVersion
  }
}

extension CertificateQuote {
  /// The quote of a certificate on the wire.
  public init(_ certificate: Bct_V1_CompatibilityCertificate) {
    func p(_ x: Double) -> String { String(format: "%.1f", x * 100) }
    let t = certificate.top1, m = certificate.meanAveragePrecision
    passed = certificate.verdict == .certified
    figures = "top-1 \(p(t.oldOld)) -> \(p(t.newOld)) -> \(p(t.newNew)), mAP \(p(m.oldOld)) -> \(p(m.newOld)) -> \(p(m.newNew)) "
      + "as Q_old/D_old -> Q_new/D_old -> Q_new/D_new on \(certificate.split.isEmpty ? certificate.dataset : certificate.split), "
      + "margin \(String(format: "%.2g", certificate.marginPoints)) point"
    reasons = certificate.reasons
    bounds = certificate.hasBounds ? Self.describe(certificate.bounds) : nil
  }

  /// "lower bounds top-1 +0.81/+1.90, mAP +2.02/+1.13 (cross/backfill; 95% item bootstrap ..., 1000 resamples, seed 0, 100000 documents)".
  static func describe(_ bounds: Bct_V1_CertificateBounds) -> String {
    func bound(_ metric: String, _ step: String) -> String {
      bounds.steps.first { $0.metric == metric && $0.step == step }.map { String(format: "%+.2f", $0.lowerBoundPoints) } ?? "?"
    }
    let level = String(format: "%g", bounds.confidence * 100)
    return "lower bounds top-1 \(bound("top-1", "cross"))/\(bound("top-1", "backfill")), "
      + "mAP \(bound("mAP", "cross"))/\(bound("mAP", "backfill")) points (cross/backfill; \(level)% \(bounds.method), "
      + "\(bounds.resamples) resamples, seed \(bounds.seed), projected to \(bounds.catalogueSize) documents)"
  }
}

/// The retrieval service's way to the encoder: deadlines taken from the caller's
/// remaining time, bounded retries with backoff on UNAVAILABLE, errors turned into
/// clear statuses, and the model listing cached (on disk too, so that searches by
/// embedding keep working while the encoder is down, even after a restart).
public final class EncoderGateway: EncoderBackend {
  private let client: EncoderClient
  private let address: String
  private let cacheFile: URL
  private let logger: Logger
  private let attempts: Int
  private let table: Mutex<(table: ModelTable, fetched: ContinuousClock.Instant?)>
  /// Longest a single encoder call may take when the caller set no deadline.
  public let defaultTimeout: Duration
  /// Most inputs per Embed call; larger batches are split (the encoder refuses
  /// batches over its --max-batch).
  public let embedBatch: Int

  /// A gateway through `client` to the encoder at `address`, caching the listing in `cacheFile`.
  public init(
    client: EncoderClient, address: String, cacheFile: URL, attempts: Int = 3, defaultTimeout: Duration = .seconds(30),
    embedBatch: Int = 256, logger: Logger
  ) {
    self.client = client
    self.embedBatch = max(1, embedBatch)
    self.address = address
    self.cacheFile = cacheFile
    self.attempts = max(1, attempts)
    self.defaultTimeout = defaultTimeout
    self.logger = logger
    let cached = (try? Data(contentsOf: cacheFile)).flatMap { try? JSONDecoder().decode(ModelTable.self, from: $0).servable }
    table = Mutex((cached ?? ModelTable(), nil))
  }

  /// The versions as last fetched (possibly from the on-disk cache).
  public var cachedModels: ModelTable { table.withLock { $0.table } }

  /// The encoder's versions, fetched if the cache is older than `maxAge` (or `force`).
  /// When the encoder cannot be reached, the cached listing is returned if there is one.
  public func models(maxAge: Duration, force: Bool, deadline: ContinuousClock.Instant?) async throws -> ModelTable {
    let (cached, fetched) = table.withLock { ($0.table, $0.fetched) }
    if !force, let fetched, ContinuousClock.now - fetched < maxAge { return cached }
    do {
      let response = try await call(deadline: deadline) { timeout in try await self.client.listModels(timeout: timeout) }
      let next = ModelTable(response)
      table.withLock { $0 = (next, .now) }
      if next != cached, let data = try? JSONEncoder().encode(next) {
        try? data.write(to: cacheFile, options: .atomic)
      }
      return next
    } catch let error as RPCError where error.code == .unavailable && !cached.versions.isEmpty {
      return cached
    }
  }

  /// Embeddings of `inputs` by `version`, L2-normalised, in calls of at most
  /// `embedBatch` inputs.
  public func embed(_ inputs: Matrix, rowShape: [Int], version: String, deadline: ContinuousClock.Instant?) async throws -> Matrix {
    if inputs.rows <= embedBatch { return try await embedChunk(inputs, rowShape: rowShape, version: version, deadline: deadline) }
    var values: [Float] = []
    var columns = 0
    for start in stride(from: 0, to: inputs.rows, by: embedBatch) {
      let chunk = inputs.rows(start..<min(inputs.rows, start + embedBatch))
      let embeddings = try await embedChunk(chunk, rowShape: rowShape, version: version, deadline: deadline)
      columns = embeddings.columns
      values.append(contentsOf: embeddings.values)
    }
    return Matrix(rows: inputs.rows, columns: columns, values: values)
  }

  private func embedChunk(_ chunk: Matrix, rowShape: [Int], version: String, deadline: ContinuousClock.Instant?) async throws -> Matrix {
    try await call(deadline: deadline) { timeout in
      let result = try await self.client.embed(chunk, rowShape: rowShape, version: version, timeout: timeout)
      guard result.version == version else {
        throw RPCError(code: .internalError, message: "the encoder embedded with \(result.version), not \(version)")
      }
      return result.embeddings
    }
  }

  private func call<Result: Sendable>(
    deadline: ContinuousClock.Instant?, _ body: (Duration) async throws -> Result
  ) async throws -> Result {
    var delay = Duration.milliseconds(50)
    for attempt in 1...attempts {
      let remaining = deadline.map { $0 - .now } ?? defaultTimeout
      guard remaining > .milliseconds(1) else {
        throw RPCError(code: .deadlineExceeded, message: "the deadline passed while waiting for the encoder at \(address)")
      }
      do {
        return try await body(min(remaining, defaultTimeout))
      } catch let error as RPCError {
        switch error.code {
        case .unavailable where attempt < attempts:
          logger.warning("encoder unavailable, retrying", metadata: ["attempt": "\(attempt)", "error": "\(error.message)"])
          try await Task.sleep(for: delay)
          delay *= 2
        case .unavailable:
          throw RPCError(code: .unavailable, message: "the encoder at \(address) is unavailable (\(error.message)) after \(attempts) attempts; retry later — searches by embedding keep working")
        case .deadlineExceeded:
          throw RPCError(code: .deadlineExceeded, message: "the encoder at \(address) did not answer within the deadline")
        default:
          throw RPCError(code: error.code, message: "encoder: \(error.message)")
        }
      }
    }
    throw RPCError(code: .unavailable, message: "the encoder at \(address) is unavailable")
  }
}
