import BCTAdapters
import BCTClient
import BCTCollection
import BCTNumerics
import BCTProto
import BCTServing
import Foundation
import GRPCCore
import Logging
import Synchronization

/// The retrieval service's way to the encoder: deadlines taken from the caller's
/// remaining time, bounded retries with backoff on UNAVAILABLE, errors turned into
/// clear statuses, and the model listing cached (on disk too, so that searches by
/// embedding keep working while the encoder is down, even after a restart).
public final class EncoderGateway: EmbeddingProvider {
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
    } catch let error as EncoderError where error.isTransient && !cached.versions.isEmpty {
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

  private func embedChunk(_ chunk: Matrix, rowShape: [Int], version label: String, deadline: ContinuousClock.Instant?) async throws -> Matrix {
    // Transformed vectors live in their target's space: a raw input written beside
    // them is embedded by the target itself.
    let version = TransformLabel.parse(label)?.target ?? label
    return try await call(deadline: deadline) { timeout in
      let result = try await self.client.embed(chunk, rowShape: rowShape, version: version, timeout: timeout)
      guard result.version == version else {
        throw EncoderError.wrongVersion(embedded: result.version, asked: version)
      }
      return result.embeddings
    }
  }

  /// The adapter `holder` keeps for `old` in `direction`, fetched from the encoder (GetAdapter).
  public func adapter(
    holder: String, old: String, direction: AdapterDirection, deadline: ContinuousClock.Instant?
  ) async throws -> EmbeddingAdapter {
    var request = Bct_V1_GetAdapterRequest()
    request.modelVersion = holder
    request.oldVersion = old
    request.mode = direction == .query ? .queryAdapted : .transformedDocuments
    let response = try await call(deadline: deadline) { timeout in try await self.client.getAdapter(request, timeout: timeout) }
    return try EmbeddingAdapter(response)
  }

  /// One call within the caller's remaining time, retried with exponential backoff
  /// from 50 ms while the encoder answers UNAVAILABLE, up to `attempts` attempts; its
  /// failure as an `EncoderError`. (grpc-swift's `RetryPolicy` was tried here: with
  /// the encoder down, its retries waited out the caller's deadline instead of
  /// answering UNAVAILABLE at once, so searches by embedding stalled.)
  private func call<Result: Sendable>(
    deadline: ContinuousClock.Instant?, _ body: (Duration) async throws -> Result
  ) async throws -> Result {
    var delay = Duration.milliseconds(50)
    for attempt in 1...attempts {
      let remaining = deadline.map { $0 - .now } ?? defaultTimeout
      guard remaining > .milliseconds(1) else { throw EncoderError.deadlinePassed(address: address) }
      do {
        return try await body(min(remaining, defaultTimeout))
      } catch let error as RPCError {
        switch error.code {
        case .unavailable where attempt < attempts:
          logger.warning("encoder unavailable, retrying", metadata: ["attempt": "\(attempt)", "error": "\(error.message)"])
          try await Task.sleep(for: delay)
          delay *= 2
        case .unavailable: throw EncoderError.unavailable(address: address, detail: error.message, attempts: attempts)
        case .deadlineExceeded: throw EncoderError.timedOut(address: address)
        default: throw EncoderError.refused(code: error.code, message: error.message)
        }
      }
    }
    throw EncoderError.unavailable(address: address, detail: "no attempt made", attempts: 0)
  }
}
