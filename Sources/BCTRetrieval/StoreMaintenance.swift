import Logging
import ServiceLifecycle

/// Keeps the store's files in shape: fsyncs the log under the interval policy,
/// writes a snapshot every `interval` or after `changes` logged changes (which
/// truncates the log), and writes a final snapshot on graceful shutdown.
public struct StoreMaintenance: Service {
  private let store: DocumentStore
  private let interval: Duration
  private let changes: Int
  private let logger: Logger

  /// Maintenance of `store`.
  public init(store: DocumentStore, interval: Duration, changes: Int, logger: Logger) {
    self.store = store
    self.interval = interval
    self.changes = changes
    self.logger = logger
  }

  public func run() async throws {
    var last = ContinuousClock.now
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
      try? await Task.sleep(for: .milliseconds(200))
      do {
        try store.syncIfDue()
      } catch {
        logger.critical("log fsync failed; writes are refused until restart", metadata: ["error": "\(error)"])
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
    if store.changesSinceSnapshot > 0 { snapshot() }
    logger.info("store closed", metadata: ["sequence": "\(store.sequence)"])
  }

  private func snapshot() {
    do {
      try store.snapshot()
    } catch {
      logger.error("snapshot failed; the log keeps every change", metadata: ["error": "\(error)"])
    }
  }
}
