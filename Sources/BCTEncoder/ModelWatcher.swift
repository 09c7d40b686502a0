import BCTServing
import Logging
import ServiceLifecycle
import UnixSignals

/// Keeps the registry current: reloads every `interval` (when set) and on SIGHUP,
/// and reports SERVING through health while at least one version is loaded.
public struct ModelWatcher: Service {
  private let registry: ModelRegistry
  private let interval: Duration?
  private let health: HealthStatusStore
  private let serviceName: String
  private let metrics: ServiceMetrics?
  private let logger: Logger

  /// A watcher of `registry` polling every `interval` (nil: SIGHUP only).
  public init(
    registry: ModelRegistry, interval: Duration?, health: HealthStatusStore, serviceName: String,
    metrics: ServiceMetrics? = nil, logger: Logger
  ) {
    self.registry = registry
    self.interval = interval
    self.health = health
    self.serviceName = serviceName
    self.metrics = metrics
    self.logger = logger
  }

  /// Reloads once and publishes the result to health and metrics.
  public func refresh() {
    registry.reload()
    let catalog = registry.catalog
    let status: HealthStatusStore.Status = catalog.models.isEmpty ? .notServing : .serving
    health.set(status, for: serviceName)
    health.set(status, for: "")
    metrics?.gauge("bct_encoder_models_loaded", help: "Model versions being served.").set(Double(catalog.models.count))
    metrics?.gauge("bct_encoder_models_rejected", help: "Version folders refused by validation.")
      .set(Double(catalog.rejected.count))
    if catalog.models.isEmpty {
      logger.warning("no valid model version in the repository; NOT_SERVING until one appears", metadata: [
        "directory": "\(registry.directory.path)"
      ])
    }
  }

  public func run() async throws {
    let hangups = await UnixSignalsSequence(trapping: .sighup)
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask {
        for await _ in hangups.cancelOnGracefulShutdown() {
          logger.info("SIGHUP: reloading the model repository")
          refresh()
        }
      }
      if let interval {
        group.addTask {
          while !Task.isCancelled && !Task.isShuttingDownGracefully {
            try? await Task.sleep(for: interval)
            guard !Task.isShuttingDownGracefully else { break }
            refresh()
          }
        }
      }
      try? await gracefulShutdown()
      group.cancelAll()
    }
  }
}
