import BCTNumerics
import BCTServing
import Logging
import ServiceLifecycle

/// Keeps the store's files in shape: fsyncs the log under the interval policy,
/// writes a snapshot every `interval` or after `changes` logged changes (which
/// truncates the log), and writes a final snapshot on graceful shutdown (none when cancelled: a dropped
/// collection's). Once the
/// log refuses writes (a failed fsync), it reports the process NOT_SERVING in
/// `health`, so that an orchestrator restarts it and recovery runs.
public struct StoreMaintenance: Service {
  private let store: DocumentStore
  private let interval: Duration
  private let changes: Int
  private let health: HealthStatusStore?
  private let logger: Logger

  /// Maintenance of `store`.
  public init(store: DocumentStore, interval: Duration, changes: Int, health: HealthStatusStore? = nil, logger: Logger) {
    self.store = store
    self.interval = interval
    self.changes = changes
    self.health = health
    self.logger = logger
  }

  public func run() async throws {
    var last = ContinuousClock.now
    var reported = false
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
      try? await Task.sleep(for: .milliseconds(200))
      do {
        try store.syncIfDue()
      } catch {
        logger.critical("log fsync failed; writes are refused until restart", metadata: ["error": "\(error)"])
      }
      if !reported, let failure = store.writeFailure {
        reported = true
        health?.setAll(.notServing)
        logger.critical("health set to NOT_SERVING: the log refuses writes until the process restarts", metadata: ["failure": "\(failure)"])
      }
      let pending = store.changesSinceSnapshot
      if pending >= changes || (pending > 0 && ContinuousClock.now - last >= interval) {
        snapshot()
        last = .now
      }
    }
    do {
      try store.sync()
    } catch {
      logger.critical("final log fsync failed", metadata: ["error": "\(error)"])
    }
    // A cancelled store is being dropped (its folder is gone); graceful shutdowns snapshot.
    if store.changesSinceSnapshot > 0 && (!Task.isCancelled || Task.isShuttingDownGracefully) { snapshot() }
    logger.info("store closed", metadata: ["sequence": "\(store.sequence)"])
  }

  private func snapshot() {
    defer { AllocatorTuning.trim() }
    do {
      try store.snapshot()
    } catch {
      logger.error("snapshot failed; the log keeps every change", metadata: ["error": "\(error)"])
    }
  }
}
