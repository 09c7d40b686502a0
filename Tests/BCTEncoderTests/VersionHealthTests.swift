import BCTEncoder
import BCTModelRepository
import BCTServing
import Foundation
import Logging
import Testing

@Suite("Per-version health")
struct VersionHealthTests {
  let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  @Test("each version is SERVING once loaded, NOT_SERVING while loading, when refused and when removed")
  func versionStatuses() async throws {
    let repo = TinyRepository.folder()
    let v1 = try TinyRepository.version("v1", createdAt: "2026-01-01T00:00:00Z")
    try v1.save(to: repo.appendingPathComponent("v1"))
    let health = HealthStatusStore(services: ["bct.v1.Encoder"])
    let watcher = ModelWatcher(
      registry: ModelRegistry(directory: repo, logger: logger), interval: nil, health: health,
      serviceName: "bct.v1.Encoder", logger: logger)
    #expect(health.status(of: "bct.v1.Encoder/v1") == nil)
    watcher.refresh()
    #expect(health.status(of: "bct.v1.Encoder/v1") == .serving)
    #expect(health.status(of: "bct.v1.Encoder") == .serving)
    #expect(health.status(of: "bct.v1.Encoder/v9") == nil)

    // A new version: unknown, then NOT_SERVING while it loads, then SERVING.
    let v2 = try TinyRepository.version("v2", parent: v1, seed: 2, createdAt: "2026-01-02T00:00:00Z")
    try v2.save(to: repo.appendingPathComponent("v2"))
    var updates = health.updates(of: "bct.v1.Encoder/v2").makeAsyncIterator()
    #expect(await updates.next() == .serviceUnknown)
    watcher.refresh()
    #expect(await updates.next() == .notServing)
    #expect(await updates.next() == .serving)
    #expect(health.status(of: "bct.v1.Encoder/v1") == .serving)

    // A refused folder: its manifest's version is NOT_SERVING, the others are untouched.
    let broken = repo.appendingPathComponent("v3-folder")
    try TinyRepository.version("v3", parent: v2, seed: 3, createdAt: "2026-01-03T00:00:00Z").save(to: broken)
    var head = try Data(contentsOf: broken.appendingPathComponent(ModelVersion.headFile))
    head[head.count - 1] ^= 0xFF
    try head.write(to: broken.appendingPathComponent(ModelVersion.headFile))
    watcher.refresh()
    #expect(health.status(of: "bct.v1.Encoder/v3") == .notServing)
    #expect(health.status(of: "bct.v1.Encoder/v3-folder") == nil)
    watcher.refresh()
    #expect(health.status(of: "bct.v1.Encoder/v3") == .notServing, "an unchanged broken folder stays refused")
    #expect(health.status(of: "bct.v1.Encoder/v2") == .serving && health.status(of: "bct.v1.Encoder") == .serving)

    // A removed version is NOT_SERVING, as is the refused one now gone.
    try FileManager.default.removeItem(at: broken)
    try FileManager.default.removeItem(at: repo.appendingPathComponent("v1"))
    watcher.refresh()
    #expect(health.status(of: "bct.v1.Encoder/v1") == .notServing)
    #expect(health.status(of: "bct.v1.Encoder/v3") == .notServing)
    #expect(health.status(of: "bct.v1.Encoder/v2") == .serving)

    // Nothing left: every version and the service are NOT_SERVING.
    try FileManager.default.removeItem(at: repo.appendingPathComponent("v2"))
    watcher.refresh()
    #expect(health.services(prefixed: "bct.v1.Encoder/").allSatisfy { health.status(of: $0) == .notServing })
    #expect(health.status(of: "bct.v1.Encoder") == .notServing && health.status(of: "") == .notServing)
  }
}
