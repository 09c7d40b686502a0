import BCTNumerics
import BCTProto
import Foundation
import GRPCCore
import Logging
import ServiceLifecycle
import Synchronization

/// Re-embeds stored documents to a newer compatible version in the background,
/// in batches, rate-limited. The plan is in the write-ahead log, so a backfill
/// interrupted by a crash or shutdown resumes on restart; every re-embedded batch
/// is logged, so no work is redone. Searches keep working over the mixed index.
public final class Backfiller: Service, Sendable {
  private struct Status {
    var state: Bct_V1_BackfillState = .unspecified
    var target = ""
    var message = ""
    var started: ContinuousClock.Instant?
    var reembedded = 0
    var stopRequested = false
  }

  private let store: DocumentStore
  private let encoder: EncoderGateway
  private let defaultBatchSize: Int
  private let logger: Logger
  private let status = Mutex(Status())

  /// A backfiller over `store`, embedding through `encoder`.
  public init(store: DocumentStore, encoder: EncoderGateway, defaultBatchSize: Int = 128, logger: Logger) {
    self.store = store
    self.encoder = encoder
    self.defaultBatchSize = defaultBatchSize
    self.logger = logger
  }

  /// Starts a backfill to `target`, or joins the one already running to it.
  public func start(target: String, batchSize: Int, rate: Double, table: ModelTable) throws {
    guard !target.isEmpty else { throw RPCError(code: .invalidArgument, message: "target_version is empty") }
    guard table.versions[target] != nil else {
      throw RPCError(code: .notFound, message: "target version \"\(target)\" is not hosted by the encoder; known: \(table.versions.keys.sorted().joined(separator: ", "))")
    }
    guard rate >= 0, rate.isFinite, batchSize >= 0, batchSize <= 4096 else {
      throw RPCError(code: .invalidArgument, message: "batch_size must be 0-4096 and max_documents_per_second 0 or more")
    }
    let (present, current) = store.read { ($0.index.versions, $0.backfill) }
    for version in present where !table.compatible(target, version) {
      throw RPCError(code: .failedPrecondition, message: "target version \(target) is not compatible with document version \(version) in the index; a backfill can only move documents within one lineage")
    }
    if let current {
      guard current.target == target else {
        throw RPCError(code: .failedPrecondition, message: "a backfill to \(current.target) is running; stop it first or wait for it")
      }
      return
    }
    try store.commit(.setBackfill(BackfillPlan(target: target, batchSize: batchSize == 0 ? defaultBatchSize : batchSize, rate: rate)))
    status.withLock { $0 = Status(state: .running, target: target, message: "", started: .now) }
  }

  /// Stops the running backfill at the next batch boundary (re-issuing it resumes).
  public func stop() throws {
    guard store.read({ $0.backfill }) != nil else {
      throw RPCError(code: .failedPrecondition, message: "no backfill is running")
    }
    status.withLock { $0.stopRequested = true }
  }

  /// The current or last backfill's progress.
  public func progress() -> Bct_V1_BackfillProgress {
    let snapshot = status.withLock { $0 }
    var progress = Bct_V1_BackfillProgress()
    progress.targetVersion = snapshot.target
    progress.state = snapshot.state
    progress.message = snapshot.message
    guard !snapshot.target.isEmpty else { return progress }
    let (done, total, skipped) = store.read { state -> (Int, Int, Int) in
      let done = state.index.countsByVersion[snapshot.target] ?? 0
      let withoutInput = state.documents.filter { $0.value.input.isEmpty && state.index.version(of: $0.key) != snapshot.target }.count
      return (done, state.documents.count, withoutInput)
    }
    progress.done = UInt64(done)
    progress.total = UInt64(total)
    progress.skipped = UInt64(skipped)
    if let started = snapshot.started {
      let seconds = (ContinuousClock.now - started).inSeconds
      if seconds > 0 && snapshot.reembedded > 0 {
        progress.documentsPerSecond = Double(snapshot.reembedded) / seconds
        progress.etaSeconds = Double(max(0, total - done - skipped)) / progress.documentsPerSecond
      }
    }
    return progress
  }

  public func run() async throws {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      if let plan = store.read({ $0.backfill }) {
        await execute(plan)
      } else {
        // Idle: `start` logs the plan before it returns, so a short poll picks it up.
        try? await Task.sleep(for: .milliseconds(200))
      }
    }
  }

  private func execute(_ plan: BackfillPlan) async {
    status.withLock { status in
      if status.target != plan.target || status.state != .running {
        status = Status(state: .running, target: plan.target, message: "", started: .now)
      }
    }
    logger.info("backfill running", metadata: ["target": "\(plan.target)", "batch": "\(plan.batchSize)"])
    var skipped = Set<String>()
    while true {
      if Task.isShuttingDownGracefully || Task.isCancelled {
        status.withLock { $0.state = .stopped; $0.message = "stopped by shutdown; resumes on restart" }
        return
      }
      if status.withLock({ $0.stopRequested }) {
        _ = try? store.commit(.setBackfill(nil))
        status.withLock { $0.state = .stopped; $0.stopRequested = false; $0.message = "stopped on request; start it again to resume" }
        logger.info("backfill stopped on request", metadata: ["target": "\(plan.target)"])
        return
      }
      let batch = store.read { state -> [StoredDocument] in
        var batch: [StoredDocument] = []
        for version in state.index.versions where version != plan.target {
          for id in state.index.ids(of: version) where !skipped.contains(id) {
            guard let doc = state.document(id) else { continue }
            guard !doc.input.isEmpty else {
              skipped.insert(id)
              continue
            }
            batch.append(doc)
            if batch.count == plan.batchSize { return batch }
          }
        }
        return batch
      }
      if batch.isEmpty {
        do {
          try store.commit(.setDocumentVersion(plan.target))
          try store.commit(.setBackfill(nil))
          status.withLock { $0.state = .completed; $0.message = skipped.isEmpty ? "" : "\(skipped.count) documents have no raw input and keep their version" }
          logger.info("backfill completed", metadata: ["target": "\(plan.target)", "skipped": "\(skipped.count)"])
        } catch {
          status.withLock { $0.state = .failed; $0.message = "cannot log completion: \(error)" }
        }
        return
      }
      let started = ContinuousClock.now
      do {
        let shape = batch[0].inputShape
        let sameShape = batch.prefix { $0.inputShape == shape }
        let inputs = Matrix(rows: sameShape.count, columns: sameShape[0].input.count, values: sameShape.flatMap(\.input))
        let vectors = try await encoder.embed(inputs, rowShape: shape, version: plan.target, deadline: .now + .seconds(60))
        let items = sameShape.enumerated().map { r, doc in
          Mutation.Reembedded(id: doc.id, version: plan.target,
                              vector: Array(vectors.values[(r * vectors.columns)..<((r + 1) * vectors.columns)]))
        }
        try store.commit(.reembed(items))
        status.withLock { $0.reembedded += items.count; $0.message = "" }
        if plan.rate > 0 {
          let budget = Duration.seconds(Double(items.count) / plan.rate)
          let spent = ContinuousClock.now - started
          if budget > spent { try? await Task.sleep(for: budget - spent) }
        }
      } catch let error as RPCError where error.code == .unavailable || error.code == .deadlineExceeded {
        status.withLock { $0.message = "waiting for the encoder: \(error.message)" }
        logger.warning("backfill waiting for the encoder", metadata: ["error": "\(error.message)"])
        try? await Task.sleep(for: .seconds(1))
      } catch {
        status.withLock { $0.state = .failed; $0.message = "\(error)" }
        logger.error("backfill failed", metadata: ["error": "\(error)"])
        _ = try? store.commit(.setBackfill(nil))
        return
      }
    }
  }
}
