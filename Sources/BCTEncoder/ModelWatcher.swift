import BCTServing
import Logging
import ServiceLifecycle
import UnixSignals

/// Keeps the registry current: reloads every `interval` (when set) and on SIGHUP,
/// and reports SERVING through health while at least one version is loaded.
///
/// Each version also has its own health name, `SERVICE/VERSION` (e.g.
/// `bct.v1.Encoder/v2`): SERVING while it is loaded; NOT_SERVING while a new
/// version loads, after it was refused, and after it left the repository.
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
    registry.reload { version in
      let name = healthName(of: version)
      if health.status(of: name) != .serving { health.set(.notServing, for: name) }
    }
    let catalog = registry.catalog
    let status: HealthStatusStore.Status = catalog.models.isEmpty ? .notServing : .serving
    for version in catalog.models.keys { health.set(.serving, for: healthName(of: version)) }
    let refused = catalog.rejected.keys.map { catalog.rejectedVersions[$0] ?? $0 }
    for name in health.services(prefixed: serviceName + "/") + refused.map(healthName(of:))
    where catalog.models[String(name.dropFirst(serviceName.count + 1))] == nil {
      health.set(.notServing, for: name)
    }
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

  /// The health name of one version: `SERVICE/VERSION`.
  public func healthName(of version: String) -> String {
    "\(serviceName)/\(version)"
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
