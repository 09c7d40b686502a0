import BCTTensor
import BCTCollection
import BCTNumerics
import BCTProto
import BCTServing
import Foundation
import GRPCCore
import Logging
import ServiceLifecycle
import Synchronization

/// Moves the index to another version in the background, in batches,
/// rate-limited. To a target certified against every document version: in
/// place (each batch replaces searched vectors). Otherwise: a shadow backfill
/// (each batch adds target vectors beside the searched ones), then one logged
/// switch once every document has its target vector, then the previous copy is
/// dropped when the grace period ends or on finalize; a rollback before that
/// loses nothing. Plans, batches and switches are in the write-ahead log, so
/// a backfill interrupted by a crash or shutdown resumes where it was.
public final class Backfiller: Service, Sendable {
  private struct Status {
    var state: Bct_V1_BackfillState = .unspecified
    var target = ""
    var shadow = false
    var message = ""
    var started: ContinuousClock.Instant?
    var reembedded = 0
    var stopRequested = false
  }

  private let store: any CollectionStore
  private let encoder: any EmbeddingProvider
  private let transformer: DocumentTransformer
  private let defaultBatchSize: Int
  private let defaultGraceSeconds: Double
  private let logger: Logger
  private let status = Mutex(Status())
  /// Notified when a backfill is asked for and when one changes state, target or message.
  private let changes = WakeSignal()
  private let countCache = Mutex(CountCache())
  /// Transform labels this process was told to move by although uncertified
  /// (`allow_uncertified`); not persisted, so a restart asks for the word again.
  private let consented = Mutex(Set<String>())
  /// Pending ids read from the store at a time.
  static let queueLength = 262_144

  /// A backfiller over `store`, embedding through `encoder`; a switched shadow
  /// upgrade keeps the previous copy `defaultGraceSeconds` unless its request said otherwise.
  public init(
    store: any CollectionStore, encoder: any EmbeddingProvider, defaultBatchSize: Int = 128, defaultGraceSeconds: Double = 86_400,
    logger: Logger
  ) {
    self.store = store
    self.encoder = encoder
    self.transformer = DocumentTransformer(encoder: encoder)
    self.defaultBatchSize = defaultBatchSize
    self.defaultGraceSeconds = defaultGraceSeconds
    self.logger = logger
  }

  /// What a Backfill request asks for.
  public struct Request: Sendable {
    /// The version to move to.
    public var target: String
    /// Documents per encoder call (0: default).
    public var batchSize: Int = 0
    /// Documents per second at most (0: unlimited).
    public var rate: Double = 0
    /// In place or shadow; nil lets the version policy choose.
    public var mode: UpgradeMode?
    /// Seconds the previous copy is kept after a shadow switch (0: default).
    public var graceSeconds: Double = 0
    /// Move by the target's document transform instead of re-embedding (in place only where
    /// the target is certified natively against the source).
    public var transform = false
    /// With `transform`: move by a usable but uncertified transform, into a shadow copy only.
    public var allowUncertified = false

    /// A request to move to `target`.
    public init(
      target: String, batchSize: Int = 0, rate: Double = 0, mode: UpgradeMode? = nil, graceSeconds: Double = 0,
      transform: Bool = false, allowUncertified: Bool = false
    ) {
      self.target = target
      self.batchSize = batchSize
      self.rate = rate
      self.mode = mode
      self.graceSeconds = graceSeconds
      self.transform = transform
      self.allowUncertified = allowUncertified
    }
  }

  /// Applies `change` to the status; wakes the runner and progress followers when
  /// the state, target or message moved.
  private func update(_ change: (inout Status) -> Void) {
    let moved = status.withLock { status in
      let before = (status.state, status.target, status.message)
      change(&status)
      return before != (status.state, status.target, status.message)
    }
    if moved { changes.notify() }
  }

  /// Returns at the next change of the backfill's state, target or message after
  /// `seen` (a `changeCount` read before the look), or after `timeout`.
  public func waitForChange(after seen: UInt64, upTo timeout: Duration) async {
    await changes.wait(after: seen, upTo: timeout)
  }

  /// How many changes `waitForChange` has seen so far.
  public var changeCount: UInt64 { changes.generation }

  /// Starts a backfill, or joins the one already running to the same target.
  public func start(_ request: Request, table: ModelTable) async throws {
    let target = request.target
    guard !target.isEmpty else { throw RetrievalError.invalidArgument(field: "target_version", message: "target_version is empty") }
    guard let info = table.versions[target] else {
      throw RetrievalError.unknownVersion(field: "target version", version: target, known: table.versions.keys.sorted())
    }
    guard info.takesRawInputs || request.transform else {
      throw RetrievalError.externalVersion(field: "target_version (a re-embedding backfill; use a transform backfill)", version: target)
    }
    guard request.batchSize >= 0, request.batchSize <= 4096 else {
      throw RetrievalError.invalidArgument(field: "batch_size", message: "batch_size is \(request.batchSize); it must be 0 (the server default) to 4096")
    }
    guard request.rate == 0 || BackfillPlan.rates.contains(request.rate) else {
      throw RetrievalError.invalidArgument(field: "max_documents_per_second", message: "max_documents_per_second is \(request.rate); it must be 0 (unlimited) or \(BackfillPlan.rates.lowerBound) to \(BackfillPlan.rates.upperBound)")
    }
    guard request.graceSeconds >= 0, request.graceSeconds.isFinite else {
      throw RetrievalError.invalidArgument(field: "grace_seconds", message: "grace_seconds must be 0 (the server default) or more")
    }
    let batchSize = request.batchSize == 0 ? defaultBatchSize : request.batchSize
    let policy = VersionPolicy(table: table)
    let grace = request.graceSeconds == 0 ? defaultGraceSeconds : request.graceSeconds
    let (_, (mode, reason, moved, uncertified)) = try await store.commit(reading: ViewQuery(withoutInputOutside: "")) { view in
      let moved = request.transform
        ? try DocumentTransformer.label(target: target, view: view, table: table, allowUncertified: request.allowUncertified) : target
      let plan = BackfillPlan(target: moved, batchSize: batchSize, rate: request.rate)
      let uncertified = request.transform && table.versions[moved]?.uncertifiedTransform == true
      if uncertified, request.mode == .inPlace, let (to, from) = TransformLabel.parse(moved) {
        throw RetrievalError.uncertifiedTransformInPlace(target: to, source: from)
      }
      // A transform moves in place only where the target's queries are certified natively against
      // the source (they search both while it runs) and the transform itself is certified; AUTO
      // picks a shadow upgrade otherwise.
      let requested = !request.transform || request.mode != nil
        ? request.mode : (!uncertified && policy.certified(moved, against: view.searched) ? .inPlace : .shadow)
      let decided = try UpgradeRules.start(
        plan, requested: requested, graceSeconds: grace, view: view, policy: policy, needsInputs: !request.transform)
      return (decided.mutations, (decided.mode, decided.reason, moved, uncertified))
    }
    if uncertified {
      consented.withLock { _ = $0.insert(moved) }
      logger.warning("transform backfill by an uncertified transform, on the request's allow_uncertified", metadata: ["target": "\(moved)"])
    }
    if !reason.isEmpty { logger.info("backfill started", metadata: ["target": "\(moved)", "mode": "\(mode.rawValue)", "reason": "\(reason)"]) }
    status.withLock { status in
      if status.target != moved || status.state != .running {
        status = Status(state: .running, target: moved, shadow: mode == .shadow, started: .now)
      }
    }
    // Always: the runner may be idle even when the status already says running (a joined plan).
    changes.notify()
  }

  /// Drops the previous copy of a switched shadow upgrade now.
  public func finalize() async throws {
    try await store.commit(reading: ViewQuery(sizes: true)) { view in try UpgradeRules.finalize(view) }
    update { $0.message = "finalized: previous embeddings dropped" }
    AllocatorTuning.trim()
    logger.info("shadow upgrade finalized")
  }

  /// Stops the running backfill at the next batch boundary (re-issuing it resumes).
  public func stop() async throws {
    guard try await store.view(ViewQuery()).backfill != nil else {
      throw RetrievalError.noBackfillRunning
    }
    status.withLock { $0.stopRequested = true }
  }

  /// Abandons a shadow upgrade: searches use the previous copy again and the target copy is dropped.
  public func rollback() async throws {
    let (_, target) = try await store.commit(reading: ViewQuery()) { view in
      let decided = try UpgradeRules.rollback(view)
      return (decided.mutations, decided.target)
    }
    update { $0 = Status(state: .stopped, target: target, shadow: true, message: "rolled back: searches use the previous version again") }
    AllocatorTuning.trim()
    logger.info("shadow upgrade rolled back", metadata: ["target": "\(target)"])
  }

  /// The current or last backfill's progress. Counting reads the whole store,
  /// so however many clients follow progress, one count runs at a time and its
  /// result serves every caller for `progressMaxAge`; the state and message are
  /// always current.
  public func progress() async throws -> Bct_V1_BackfillProgress {
    let snapshot = status.withLock { $0 }
    var progress = Bct_V1_BackfillProgress()
    progress.targetVersion = snapshot.target
    progress.state = snapshot.state
    progress.message = snapshot.message
    guard !snapshot.target.isEmpty else { return progress }
    progress.mode = snapshot.shadow ? .shadow : .inPlace
    let counts = try await sharedCounts(for: "\(snapshot.state.rawValue) \(snapshot.target)", target: snapshot.target)
    progress.done = UInt64(counts.done)
    progress.total = UInt64(counts.total)
    progress.skipped = UInt64(counts.skipped)
    if let shadow = counts.shadow { progress.shadow = shadow }
    if let started = snapshot.started, snapshot.state == .running {
      let seconds = (ContinuousClock.now - started).inSeconds
      if seconds > 0 && snapshot.reembedded > 0 {
        progress.documentsPerSecond = Double(snapshot.reembedded) / seconds
        progress.etaSeconds = Double(max(0, counts.total - counts.done - counts.skipped)) / progress.documentsPerSecond
      }
    }
    return progress
  }

  /// How far a backfill to one target is, as counted from the store.
  struct ProgressCounts: Sendable {
    var done = 0
    var total = 0
    var skipped = 0
    var shadow: Bct_V1_ShadowStatus?
  }

  private struct CountCache: Sendable {
    var key = ""
    var at: ContinuousClock.Instant?
    var counts = ProgressCounts()
    var running: Task<ProgressCounts, any Error>?
  }

  /// How long one count of the store answers progress requests.
  static let progressMaxAge: Duration = .milliseconds(200)

  /// Counts for `target` under `key` (the target and the backfill's state, so
  /// that a state change counts afresh): the cached ones while fresh, else the
  /// one count in flight (started here when there is none).
  private func sharedCounts(for key: String, target: String) async throws -> ProgressCounts {
    let task = countCache.withLock { cache -> Task<ProgressCounts, any Error>? in
      if cache.key == key, let at = cache.at, ContinuousClock.now - at < Self.progressMaxAge { return nil }
      if let running = cache.running, cache.key == key { return running }
      let store = self.store
      let running = Task { try await Self.count(store: store, target: target) }
      cache = CountCache(key: key, at: nil, counts: cache.counts, running: running)
      return running
    }
    guard let task else { return countCache.withLock { $0.counts } }
    do {
      let counts = try await task.value
      countCache.withLock { cache in
        if cache.key == key { cache = CountCache(key: key, at: .now, counts: counts, running: nil) }
      }
      return counts
    } catch {
      countCache.withLock { cache in if cache.key == key { cache.running = nil } }
      throw error
    }
  }

  private static func count(store: any CollectionStore, target: String) async throws -> ProgressCounts {
    let view = try await store.view(ViewQuery(sizes: true))
    if let upgrade = view.shadow, upgrade.target == target {
      let shadow = CollectionReport.shadowStatus(view)
      return ProgressCounts(done: Int(shadow.shadowDocuments), total: view.documentCount, skipped: 0, shadow: shadow)
    }
    // Only a re-embedding in place skips documents (those without a raw input); counting them reads every document.
    guard TransformLabel.parse(target) == nil else {
      return ProgressCounts(done: view.searchedCounts[target] ?? 0, total: view.documentCount, skipped: 0)
    }
    let skipped = try await store.view(ViewQuery(withoutInputOutside: target)).withoutInput
    return ProgressCounts(done: view.searchedCounts[target] ?? 0, total: view.documentCount, skipped: skipped)
  }

  public func run() async throws {
    while !Task.isCancelled && !Task.isShuttingDownGracefully {
      let plan: BackfillPlan?
      let seen = changes.generation
      do {
        plan = try await store.view(ViewQuery()).backfill
      } catch {
        logger.warning("backfiller cannot read the store", metadata: ["error": "\(error)"])
        try? await Task.sleep(for: .seconds(1))
        continue
      }
      if let plan {
        await execute(plan)
      } else {
        await finalizeIfGraceEnded()
        // Idle: `start` logs the plan, then wakes this loop; the poll is the fallback.
        await changes.wait(after: seen, upTo: .milliseconds(200))
      }
    }
  }

  private func finalizeIfGraceEnded() async {
    guard let upgrade = try? await store.view(ViewQuery()).shadow, UpgradeRules.graceEnded(upgrade, at: Date().timeIntervalSince1970)
    else { return }
    do {
      try await store.commit { state in
        guard state.shadow == upgrade else { throw CancellationError() }
        return [.finalizeShadow]
      }
      AllocatorTuning.trim()
      logger.info("shadow upgrade finalized: grace period over", metadata: ["target": "\(upgrade.target)"])
    } catch is CancellationError {
    } catch {
      logger.error("cannot log the end of the grace period", metadata: ["error": "\(error)"])
    }
  }

  /// Whether `document` still needs a vector of the plan's target.
  private func needs(_ document: StoredDocument, _ plan: BackfillPlan) -> Bool {
    UpgradeRules.needsTarget(version: document.version, counterpart: document.counterpart?.version, plan: plan)
  }

  /// What the backfill loop does after a step.
  private enum Step {
    /// Go on with the next batch.
    case next
    /// Leave the loop (the plan ended, failed, stopped or changed).
    case end
  }

  /// Documents read for one batch, with the generation of each body when read.
  private struct Batch {
    var documents: [StoredDocument]
    var generations: [String: UInt64]
  }

  private func execute(_ plan: BackfillPlan) async {
    update { status in
      if status.target != plan.target || status.state != .running {
        status = Status(state: .running, target: plan.target, shadow: plan.shadow, message: "", started: .now)
      }
    }
    logger.info("backfill running", metadata: ["target": "\(plan.target)", "batch": "\(plan.batchSize)", "mode": "\(plan.shadow ? "shadow" : "in place")"])
    var skipped = Set<String>()
    var queue: ArraySlice<String> = []
    while await continues(plan) {
      let batch: Batch
      do {
        guard let next = try await nextBatch(plan, queue: &queue, skipped: skipped) else { return }
        batch = next
      } catch {
        update { $0.message = "waiting for the store: \(error)" }
        logger.warning("backfill waiting for the store", metadata: ["error": "\(error)"])
        try? await Task.sleep(for: .seconds(1))
        continue
      }
      if TransformLabel.parse(plan.target) != nil {
        if await reembed(batch.documents, generations: batch.generations, plan: plan) == .end { return }
        continue
      }
      // Documents without a raw input keep their version in place; a shadow backfill cannot switch without them.
      if plan.shadow, let stuck = batch.documents.first(where: { $0.input.isEmpty && $0.version != plan.target }) {
        await fail(plan, "document \(stuck.id) has no raw input to embed with \(plan.target); re-upsert it with its input or delete it, then start the backfill again")
        return
      }
      for doc in batch.documents where doc.input.isEmpty { skipped.insert(doc.id) }
      let work = batch.documents.filter { !($0.input.isEmpty && $0.version != plan.target) }
      if work.isEmpty { continue }
      if await reembed(work, generations: batch.generations, plan: plan) == .end { return }
    }
  }

  /// Whether the loop goes on: not after a shutdown or a stop request (which it records).
  private func continues(_ plan: BackfillPlan) async -> Bool {
    if Task.isShuttingDownGracefully || Task.isCancelled {
      update { $0.state = .stopped; $0.message = "stopped by shutdown; resumes on restart" }
      return false
    }
    guard status.withLock({ $0.stopRequested }) else { return true }
    _ = try? await store.commit(.setBackfill(nil))
    update { $0.state = .stopped; $0.stopRequested = false; $0.message = "stopped on request; start it again to resume" }
    logger.info("backfill stopped on request", metadata: ["target": "\(plan.target)"])
    return false
  }

  /// The next batch of documents that still need the target, refilling `queue` from the
  /// store; nil when the plan is no longer the one in progress or nothing is left (the plan is completed then).
  private func nextBatch(_ plan: BackfillPlan, queue: inout ArraySlice<String>, skipped: Set<String>) async throws -> Batch? {
    guard try await store.view(ViewQuery()).backfill == plan else { return nil }
    if queue.isEmpty {
      queue = try await store.pendingIDs(plan, skipping: skipped, limit: Self.queueLength)[...]
      if queue.isEmpty {
        await complete(plan, skipped: skipped.count)
        return nil
      }
    }
    let ids = queue.prefix(plan.effectiveBatchSize)
    queue = queue.dropFirst(ids.count)
    let found = try await store.documents(Array(ids)).filter { needs($0.document, plan) }
    return Batch(documents: found.map(\.document), generations: Dictionary(found.map { ($0.document.id, $0.generation) }) { a, _ in a })
  }

  /// Embeds one batch with the target and commits it (documents replaced meanwhile
  /// keep their new vectors), then paces the plan's rate.
  private func reembed(_ batch: [StoredDocument], generations: [String: UInt64], plan: BackfillPlan) async -> Step {
    let started = ContinuousClock.now
    do {
      let items = TransformLabel.parse(plan.target) != nil
        ? try await transformer.vectors(batch, label: plan.target, allowUncertified: consented.withLock { $0.contains(plan.target) })
        : try await embed(batch, to: plan.target)
      try await store.commit(reading: ViewQuery(ids: items.map(\.id))) { state in
        guard state.backfill == plan else { throw CancellationError() }
        let current = items.filter { state.documents[$0.id]?.generation == generations[$0.id] }
        try state.checkDimensions(current.map { VersionedVector(version: $0.version, vector: $0.vector) })
        return current.isEmpty ? [] : [plan.shadow ? .shadowEmbed(current) : .reembed(current)]
      }
      update { $0.reembedded += items.count; $0.message = "" }
      let pause = plan.pause(after: items.count) - (ContinuousClock.now - started).inSeconds
      if pause > 0 { _ = await waitForPace(seconds: pause, plan: plan) }
      return .next
    } catch {
      return await handleBatchFailure(error, plan: plan)
    }
  }

  /// A batch that could not be committed: wait for a transient encoder, stop on
  /// shutdown or a change of plan, fail the plan otherwise.
  private func handleBatchFailure(_ error: any Error, plan: BackfillPlan) async -> Step {
    switch error {
    case is CancellationError:
      return .end
    case _ where Task.isCancelled || Task.isShuttingDownGracefully:
      // The encoder call was cut by shutdown: the plan stays in the log and resumes on restart.
      update { $0.state = .stopped; $0.message = "stopped by shutdown; resumes on restart" }
      return .end
    case let error as EncoderError where error.isTransient:
      update { $0.message = "waiting for the encoder: \(error)" }
      logger.warning("backfill waiting for the encoder", metadata: ["error": "\(error)"])
      try? await Task.sleep(for: .seconds(1))
      return .next
    case _ where plan.shadow && Self.isBadInput(error):
      // A raw input the target cannot take: the switch cannot happen; leave the upgrade resumable.
      await fail(plan, "\(error); roll the shadow upgrade back or replace the document")
      return .end
    default:
      await fail(plan, "\(error)")
      return .end
    }
  }

  /// Sleeps `seconds` between batches of a rate-limited plan, in short steps, so
  /// that a stop, a shutdown or a change of plan is seen within a fraction of a
  /// second however slow the rate. Returns false when it was cut short.
  private func waitForPace(seconds: Double, plan: BackfillPlan) async -> Bool {
    let end = ContinuousClock.now + .milliseconds(Int64(min(seconds, BackfillPlan.longestPause) * 1000))
    var checked = ContinuousClock.now
    while ContinuousClock.now < end {
      if Task.isCancelled || Task.isShuttingDownGracefully || status.withLock({ $0.stopRequested }) { return false }
      if ContinuousClock.now - checked >= .seconds(1) {
        checked = .now
        if let current = try? await store.view(ViewQuery()).backfill, current != plan { return false }
      }
      try? await Task.sleep(for: min(.milliseconds(100), end - .now))
    }
    return true
  }

  /// Target-version vectors of `docs`: copied for documents already of the
  /// target, embedded from the raw input (one encoder call per input shape) otherwise.
  private func embed(_ docs: [StoredDocument], to target: String) async throws -> [Mutation.Reembedded] {
    var items = docs.filter { $0.version == target }.map { Mutation.Reembedded(id: $0.id, version: target, vector: $0.vector) }
    let toEmbed = docs.filter { $0.version != target }
    guard let first = toEmbed.first else { return items }
    let shape = first.inputShape
    let width = TensorCodec.checkedProduct(shape) ?? -1
    if let bad = toEmbed.first(where: { $0.inputShape == shape && ($0.input.count != width || width < 1) }) {
      throw RetrievalError.storedInputCorrupt(document: bad.id, values: bad.input.count, shape: shape)
    }
    let same = toEmbed.filter { $0.inputShape == shape }
    let inputs = Matrix(rows: same.count, columns: width, values: same.flatMap(\.input))
    let vectors = try await encoder.embed(inputs, rowShape: shape, version: target, deadline: .now + .seconds(60))
    for (r, doc) in same.enumerated() {
      items.append(.init(id: doc.id, version: target, vector: vectors.row(r)))
    }
    return items
  }

  /// Ends the plan: an in-place backfill sets the document version; a shadow one
  /// switches, if (checked with writers excluded) every document has its target vector.
  private func complete(_ plan: BackfillPlan, skipped: Int) async {
    do {
      if plan.shadow {
        try await store.commit(reading: ViewQuery(pendingFor: plan)) { view in
          guard let mutations = UpgradeRules.switchShadow(plan, view: view, at: Date().timeIntervalSince1970) else { throw CancellationError() }
          return mutations
        }
        update { $0.state = .completed; $0.message = "switched: searches use \(plan.target); previous embeddings kept for the grace period (finalize or roll back)" }
        logger.info("shadow upgrade switched", metadata: ["target": "\(plan.target)"])
      } else {
        try await store.commit { state in
          guard state.backfill == plan else { throw CancellationError() }
          return [.setDocumentVersion(plan.target), .setBackfill(nil)]
        }
        update { $0.state = .completed; $0.message = skipped == 0 ? "" : "\(skipped) documents have no raw input and keep their version" }
        AllocatorTuning.trim()
        logger.info("backfill completed", metadata: ["target": "\(plan.target)", "skipped": "\(skipped)"])
      }
    } catch is CancellationError {
      // The state moved (an upsert without a shadow vector, a rollback): the loop looks again.
    } catch {
      await fail(plan, "cannot log completion: \(error)")
    }
  }

  /// Whether `error` is an input the target version cannot take (so a shadow upgrade cannot switch).
  private static func isBadInput(_ error: any Error) -> Bool {
    switch error {
    case let error as EncoderError: error.isBadInput
    case RetrievalError.storedInputCorrupt, RetrievalError.inputSize: true
    case let error as RPCError: error.code == .invalidArgument
    default: false
    }
  }

  private func fail(_ plan: BackfillPlan, _ message: String) async {
    update { $0.state = .failed; $0.message = message }
    logger.error("backfill failed", metadata: ["target": "\(plan.target)", "error": "\(message)"])
    _ = try? await store.commit(.setBackfill(nil))
  }
}

extension Backfiller {
  /// Carries out a Backfill request (start or join, stop, finalize, roll back);
  /// returns whether the caller should follow progress until the job ends.
  public func handle(_ request: Bct_V1_BackfillRequest, encoder: any EmbeddingProvider, deadline: ContinuousClock.Instant?) async throws -> Bool {
    let actions = [request.stop, request.finalize, request.rollback].filter { $0 }.count
    guard actions <= 1 else {
      throw RetrievalError.invalidArgument(field: "stop, finalize, rollback", message: "stop, finalize and rollback exclude each other; set one")
    }
    if request.stop {
      try await stop()
      return true
    }
    if request.finalize {
      try await finalize()
      return false
    }
    if request.rollback {
      try await rollback()
      return false
    }
    let mode: UpgradeMode?
    switch request.mode {
    case .auto: mode = nil
    case .inPlace: mode = .inPlace
    case .shadow: mode = .shadow
    case .UNRECOGNIZED(let value): throw RetrievalError.invalidArgument(field: "mode", message: "mode \(value) is not a BackfillMode")
    }
    let table = try await encoder.models(deadline: deadline)
    try await start(Request(target: request.targetVersion, batchSize: Int(request.batchSize), rate: request.maxDocumentsPerSecond,
                      mode: mode, graceSeconds: request.graceSeconds, transform: request.transform,
                      allowUncertified: request.allowUncertified), table: table)
    return true
  }
}
