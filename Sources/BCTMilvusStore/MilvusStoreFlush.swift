import BCTCollection
import Logging
import ServiceLifecycle

/// Flushes what the Milvus store wrote when the service shuts down gracefully, so
/// the next start searches sealed, indexed segments.
public struct MilvusStoreFlush: Service {
  private let store: MilvusCollectionStore
  private let logger: Logger

  /// Flushes `store` on shutdown.
  public init(store: MilvusCollectionStore, logger: Logger) {
    self.store = store
    self.logger = logger
  }

  public func run() async throws {
    try? await gracefulShutdown()
    do {
      try await store.flush()
      logger.info("Milvus store flushed")
    } catch {
      logger.error("Milvus flush on shutdown failed; Milvus seals the rows itself later", metadata: ["error": "\(error)"])
    }
  }
}
