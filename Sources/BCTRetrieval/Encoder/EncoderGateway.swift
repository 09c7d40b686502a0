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
/// remaining time, retries on UNAVAILABLE by grpc-swift's `RetryPolicy`, errors turned into
/// clear statuses, and the model listing cached (on disk too, so that searches by
/// embedding keep working while the encoder is down, even after a restart).
public final class EncoderGateway: EmbeddingProvider {
  private let client: EncoderClient
  /// The encoder's address, as errors name it.
  public let address: String
  private let cacheFile: URL
  private let logger: Logger
  private let attempts: Int
  /// grpc-swift's retries: UNAVAILABLE answers, up to `attempts` (at most 5), backoff from 50 ms doubling to 1 s.
  private let retry: RetryPolicy?
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
    self.attempts = min(5, max(1, attempts))
    retry = self.attempts < 2 ? nil : RetryPolicy(
      maxAttempts: self.attempts, initialBackoff: .milliseconds(50), maxBackoff: .seconds(1), backoffMultiplier: 2,
      retryableStatusCodes: [.unavailable])
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
      let response = try await call(deadline: deadline) { retry in
        try await self.client.listModels(timeout: nil, retry: retry)
      }
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
    return try await call(deadline: deadline) { retry in
      let result = try await self.client.embed(chunk, rowShape: rowShape, version: version, timeout: nil, retry: retry)
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
    let asked = request
    let response = try await call(deadline: deadline) { retry in
      try await self.client.getAdapter(asked, timeout: nil, retry: retry)
    }
    return try EmbeddingAdapter(response)
  }

  /// One call within the caller's remaining time (at most `defaultTimeout`), retried by
  /// grpc-swift under `retry`; its failure as an `EncoderError`.
  ///
  /// The time limit is kept here, by cancelling the call, rather than given to
  /// grpc-swift as the call's timeout: with a timeout, grpc-swift 2.4.3's retry executor
  /// answers a stream it cannot open (the encoder is down) only once the timeout has
  /// run out (it returns the failure without cancelling its own timer task), so every
  /// call to a down encoder would wait out the caller's deadline instead of answering
  /// UNAVAILABLE at once. Without one, it fails at once.
  private func call<Result: Sendable>(
    deadline: ContinuousClock.Instant?, _ body: @escaping @Sendable (RetryPolicy?) async throws -> Result
  ) async throws -> Result {
    let remaining = deadline.map { $0 - .now } ?? defaultTimeout
    guard remaining > .milliseconds(1) else { throw EncoderError.deadlinePassed(address: address) }
    let retry = retry
    do {
      return try await Self.within(min(remaining, defaultTimeout)) { try await body(retry) }
    } catch is TimeLimitReached {
      throw EncoderError.timedOut(address: address)
    } catch let error as RPCError {
      switch error.code {
      case .unavailable: throw EncoderError.unavailable(address: address, detail: error.message, attempts: attempts)
      case .deadlineExceeded: throw EncoderError.timedOut(address: address)
      default: throw EncoderError.refused(code: error.code, message: error.message)
      }
    }
  }

  /// `body`'s result, or `TimeLimitReached` once `limit` has passed (`body` is cancelled then).
  static func within<Result: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> Result) async throws -> Result {
    try await withThrowingTaskGroup(of: Result?.self) { group in
      group.addTask { try await body() }
      group.addTask {
        try await Task.sleep(for: limit)
        return nil
      }
      defer { group.cancelAll() }
      if let first = try await group.next(), let result = first { return result }
      throw TimeLimitReached()
    }
  }
}

/// A call outlived its time limit.
struct TimeLimitReached: Error {}
