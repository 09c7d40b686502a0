import BCTModel
import BCTNumerics
import BCTServing
import GRPCCore
import Logging
import ServiceLifecycle
import Synchronization

/// Dynamic batching: concurrent embed requests for the same loaded model are
/// coalesced into one forward pass of up to `maxBatch` rows, waiting at most
/// `maxWait` after the oldest request arrived (Triton's max queue delay). The queue
/// is bounded by `maxQueuedRows`; a request that does not fit is refused at once
/// with RESOURCE_EXHAUSTED instead of waiting without bound.
///
/// Runs as a `Service`: `run()` does the forward passes; on graceful shutdown it
/// finishes what is queued and refuses new work with UNAVAILABLE.
public final class EmbeddingBatcher: Service, Sendable {
  /// Limits of the batcher.
  public struct Limits: Sendable {
    /// Most rows in one forward pass (and in one request).
    public var maxBatch: Int
    /// Longest a request waits for others to join its batch.
    public var maxWait: Duration
    /// Most rows waiting in the queue.
    public var maxQueuedRows: Int

    /// Limits with the given values.
    public init(maxBatch: Int = 256, maxWait: Duration = .microseconds(1000), maxQueuedRows: Int = 4096) {
      self.maxBatch = maxBatch
      self.maxWait = maxWait
      self.maxQueuedRows = maxQueuedRows
    }
  }

  private struct Job {
    let model: ServedModel
    let backbone: Backbone
    let inputs: Matrix
    let enqueued: ContinuousClock.Instant
    let continuation: CheckedContinuation<Matrix, any Error>
  }

  private struct State {
    var queue: [Job] = []
    var queuedRows = 0
    var closed = false
    /// Whether the queue was empty when the last forward pass was taken: no
    /// burst is under way, so a lone request need not wait for company.
    var idle = true
  }

  /// The limits in force.
  public let limits: Limits
  private let state = Mutex(State())
  private let wakeups: AsyncStream<Void>
  private let wake: AsyncStream<Void>.Continuation
  private let metrics: ServiceMetrics?
  private let logger: Logger

  /// A batcher with `limits`, reporting batch sizes and queue depth to `metrics`.
  public init(limits: Limits, metrics: ServiceMetrics? = nil, logger: Logger = Logger(label: "bct.batcher")) {
    precondition(limits.maxBatch >= 1 && limits.maxQueuedRows >= limits.maxBatch, "invalid batcher limits")
    self.limits = limits
    self.metrics = metrics
    self.logger = logger
    (wakeups, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
  }

  /// The raw (unnormalised) embeddings of `inputs` under `model`, computed in a
  /// batch shared with concurrent requests for the same model.
  public func embed(_ inputs: Matrix, with model: ServedModel) async throws -> Matrix {
    guard inputs.rows <= limits.maxBatch else {
      throw RPCError(code: .resourceExhausted, message: "batch of \(inputs.rows) inputs is over the maximum of \(limits.maxBatch); split it")
    }
    let backbone = try model.requireBackbone()
    return try await withCheckedThrowingContinuation { continuation in
      let refusal: RPCError? = state.withLock { state in
        if state.closed {
          return RPCError(code: .unavailable, message: "the encoder is shutting down")
        }
        guard state.queuedRows + inputs.rows <= limits.maxQueuedRows else {
          return RPCError(code: .resourceExhausted, message: "the embedding queue is full (\(state.queuedRows) of \(limits.maxQueuedRows) rows waiting); retry later")
        }
        state.queue.append(Job(model: model, backbone: backbone, inputs: inputs, enqueued: .now, continuation: continuation))
        state.queuedRows += inputs.rows
        return nil
      }
      if let refusal {
        continuation.resume(throwing: refusal)
      } else {
        wake.yield()
      }
    }
  }

  /// Rows waiting now.
  public var queuedRows: Int { state.withLock { $0.queuedRows } }

  public func run() async throws {
    await withGracefulShutdownHandler {
      for await _ in wakeups {
        while let batch = await nextBatch() { process(batch) }
        if state.withLock({ $0.closed && $0.queue.isEmpty }) { break }
      }
      while let batch = await nextBatch() { process(batch) }
    } onGracefulShutdown: {
      self.close()
    }
  }

  /// Refuses new work; `run()` finishes what is queued and returns.
  public func close() {
    state.withLock { $0.closed = true }
    wake.yield()
    wake.finish()
  }

  /// Takes the next batch: the oldest job's model, after waiting up to `maxWait`
  /// from that job's arrival for others to join — unless the batch is already
  /// full, the service is shutting down, or the request came alone to an idle
  /// batcher (nothing else queued, none left over from the last pass): then it
  /// runs at once, and batch-1 latency carries no wait window.
  private func nextBatch() async -> [Job]? {
    let pending = state.withLock { state -> (rows: Int, since: ContinuousClock.Instant, closed: Bool, alone: Bool)? in
      guard let first = state.queue.first else {
        state.idle = true
        return nil
      }
      let rows = state.queue.lazy.filter { $0.model.generation == first.model.generation }.reduce(0) { $0 + $1.inputs.rows }
      return (rows, first.enqueued, state.closed, state.idle && state.queue.count == 1)
    }
    guard let pending else { return nil }
    if pending.rows < limits.maxBatch && !pending.closed && !pending.alone {
      let deadline = pending.since + limits.maxWait
      if deadline > .now { try? await Task.sleep(until: deadline, clock: .continuous) }
    }
    return state.withLock { state -> [Job]? in
      guard let first = state.queue.first else { return nil }
      var taken: [Job] = []
      var rest: [Job] = []
      var rows = 0
      for job in state.queue {
        if job.model.generation == first.model.generation && rows + job.inputs.rows <= limits.maxBatch {
          taken.append(job)
          rows += job.inputs.rows
        } else {
          rest.append(job)
        }
      }
      state.queue = rest
      state.queuedRows -= rows
      // Jobs left behind, or arriving during this pass, mean a burst: the next batch waits to fill.
      state.idle = false
      return taken
    }
  }

  private func process(_ jobs: [Job]) {
    let (model, backbone) = (jobs[0].model, jobs[0].backbone)
    let width = backbone.inputWidth
    let rows = jobs.reduce(0) { $0 + $1.inputs.rows }
    var combined = [Float]()
    combined.reserveCapacity(rows * width)
    for job in jobs { combined.append(contentsOf: job.inputs.values) }
    let started = ContinuousClock.now
    let output = backbone.embed(Matrix(rows: rows, columns: width, values: combined))
    if let metrics {
      let labels = [("version", model.version)]
      metrics.histogram("bct_encoder_batch_rows", help: "Rows per forward pass.",
                        buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024], labels: labels).record(Double(rows))
      metrics.histogram("bct_encoder_batch_requests", help: "Requests coalesced into one forward pass.",
                        buckets: [1, 2, 4, 8, 16, 32, 64], labels: labels).record(Double(jobs.count))
      metrics.counter("bct_encoder_embedded_rows_total", help: "Inputs embedded.", labels: labels).increment(by: Int64(rows))
      metrics.counter("bct_encoder_forward_seconds_total", help: "Time spent in forward passes.", labels: labels)
        .increment(by: (ContinuousClock.now - started).inSeconds)
      metrics.gauge("bct_encoder_queue_rows", help: "Inputs waiting for a forward pass.").set(Double(queuedRows))
    }
    var offset = 0
    let dim = output.columns
    for job in jobs {
      let part = Matrix(rows: job.inputs.rows, columns: dim,
                        values: Array(output.values[(offset * dim)..<((offset + job.inputs.rows) * dim)]))
      offset += job.inputs.rows
      job.continuation.resume(returning: part)
    }
  }
}
