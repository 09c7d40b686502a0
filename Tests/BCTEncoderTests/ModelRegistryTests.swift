import BCTEncoder
import BCTModelRepository
import BCTProto
import Foundation
import GRPCCore
import Logging
import Testing

@Suite("Model registry")
struct ModelRegistryTests {
  let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  @Test("relations follow the certificates: certified, uncertified (failed or missing), incompatible")
  func relations() throws {
    let v1 = try TinyRepository.version("v1", createdAt: "2026-01-01T00:00:00Z")
    let v2 = try TinyRepository.version("v2", parent: v1, seed: 2, createdAt: "2026-01-02T00:00:00Z")
    let v3 = try TinyRepository.version("v3", parent: v2, certified: false, seed: 3, createdAt: "2026-01-03T00:00:00Z")
    let w1 = try TinyRepository.version("w1", seed: 4, createdAt: "2026-01-04T00:00:00Z")
    var catalog = ModelCatalog()
    for (generation, model) in [v1, v2, v3, w1].enumerated() {
      catalog.models[model.version] = TinyRepository.served(model, generation: generation)
    }
    #expect(catalog.relations(of: "v1") == ["v2": .certified, "v3": .uncertified, "w1": .incompatible])
    #expect(catalog.relations(of: "v3") == ["v1": .uncertified, "v2": .uncertified, "w1": .incompatible])
    let info = ModelInfoMapping.info(v3.manifest, relations: catalog.relations(of: "v3"), isDefault: false)
    #expect(info.compatibleWith.isEmpty && info.compatibility["v2"] == .uncertified && info.compatibility["w1"] == .incompatible)
    #expect(info.certificates.count == 1 && info.certificates[0].verdict == .uncertified && info.certificates[0].oldVersion == "v2")
    #expect(info.certificates[0].reasons.first?.contains("top-1 cross gain: lower bound -1.00") == true && info.certificates[0].hasBounds)
    #expect(ModelInfoMapping.info(v2.manifest, relations: catalog.relations(of: "v2"), isDefault: true).compatibleWith == ["v1"])
  }

  @Test("loads valid versions, refuses a broken one without affecting the rest, defaults to the newest")
  func loadAndRefuse() throws {
    let repo = TinyRepository.folder()
    let v1 = try TinyRepository.version("v1", createdAt: "2026-01-01T00:00:00Z")
    let v2 = try TinyRepository.version("v2", parent: v1, seed: 2, createdAt: "2026-01-02T00:00:00Z")
    try v1.save(to: repo.appendingPathComponent("v1"))
    try v2.save(to: repo.appendingPathComponent("v2"))
    let broken = repo.appendingPathComponent("v3-broken")
    try TinyRepository.version("v3", parent: v2, seed: 3, createdAt: "2026-01-03T00:00:00Z").save(to: broken)
    var head = try Data(contentsOf: broken.appendingPathComponent(ModelVersion.headFile))
    head[head.count - 1] ^= 0xFF
    try head.write(to: broken.appendingPathComponent(ModelVersion.headFile))
    try FileManager.default.createDirectory(at: repo.appendingPathComponent("empty"), withIntermediateDirectories: true)

    let registry = ModelRegistry(directory: repo, logger: logger)
    let summary = registry.reload()
    #expect(summary.loaded.sorted() == ["v1", "v2"])
    #expect(summary.rejected.keys.sorted() == ["empty", "v3-broken"])
    #expect(summary.rejected["v3-broken"]?.contains("fingerprint") == true)
    #expect(summary.rejected["empty"]?.contains("missing manifest.json") == true)
    let catalog = registry.catalog
    #expect(catalog.defaultVersion == "v2")
    #expect(catalog.ordered.map(\.version) == ["v1", "v2"])
    #expect(catalog.relations(of: "v1") == ["v2": .certified] && catalog.relations(of: "v2") == ["v1": .certified])
    let error = #expect(throws: RPCError.self) { try catalog.resolve("v3") }
    #expect(error?.code == .notFound)
    #expect(error?.message.contains("known versions: v1, v2") == true)
    #expect(try catalog.resolve("").version == "v2")

    #expect(registry.reload().changed == false, "an unchanged repository reloads nothing")
  }

  @Test("picks up new versions, keeps the last good load of a version whose files break, drops removed ones")
  func hotReload() throws {
    let repo = TinyRepository.folder()
    let v1 = try TinyRepository.version("v1", createdAt: "2026-01-01T00:00:00Z")
    try v1.save(to: repo.appendingPathComponent("v1"))
    let registry = ModelRegistry(directory: repo, logger: logger)
    registry.reload()
    let firstLoad = try registry.catalog.resolve("v1")

    let v2 = try TinyRepository.version("v2", parent: v1, seed: 2, createdAt: "2026-01-02T00:00:00Z")
    try v2.save(to: repo.appendingPathComponent("v2"))
    #expect(registry.reload().loaded == ["v2"])
    #expect(registry.catalog.defaultVersion == "v2")

    try "v1\n".write(to: repo.appendingPathComponent(ModelRegistry.defaultVersionFile), atomically: true, encoding: .utf8)
    registry.reload()
    #expect(registry.catalog.defaultVersion == "v1", "the repository's DEFAULT file pins the default")

    try Data("{not json".utf8).write(to: repo.appendingPathComponent("v1").appendingPathComponent(ModelVersion.manifestFile))
    let summary = registry.reload()
    #expect(summary.rejected["v1"]?.contains("not a valid manifest") == true)
    #expect(try registry.catalog.resolve("v1").generation == firstLoad.generation, "the healthy load keeps serving")

    try FileManager.default.removeItem(at: repo.appendingPathComponent("v2"))
    #expect(registry.reload().removed == ["v2"])
    #expect(registry.catalog.models["v2"] == nil)
  }

  @Test("a version's weights, head or embedding size are never replaced under the same name; manifest records may change")
  func refusesReplacement() throws {
    let repo = TinyRepository.folder()
    let v1 = try TinyRepository.version("v1", createdAt: "2026-01-01T00:00:00Z")
    try v1.save(to: repo.appendingPathComponent("v1"))
    let registry = ModelRegistry(directory: repo, logger: logger)
    registry.reload()
    let firstLoad = try registry.catalog.resolve("v1")
    // Recorded evaluations change: reloaded.
    var annotated = v1
    annotated.manifest.evaluations = []
    try annotated.save(to: repo.appendingPathComponent("v1"))
    #expect(registry.reload().loaded == ["v1"])
    // Other weights (and head) under the same name: refused, the served load stays.
    let other = try TinyRepository.version("v1", seed: 9, createdAt: "2026-01-01T00:00:00Z")
    try other.save(to: repo.appendingPathComponent("v1"))
    let summary = registry.reload()
    #expect(summary.rejected["v1"]?.contains("refused to replace version v1 under the same name") == true, "\(summary)")
    let served = try registry.catalog.resolve("v1")
    #expect(served.manifest.head.fingerprint == firstLoad.manifest.head.fingerprint)
    #expect(served.backbone?.network.parameters == v1.backbone.network.parameters)
    // Same head, other backbone weights: refused too.
    var retrained = v1
    retrained.backbone = other.backbone
    try retrained.save(to: repo.appendingPathComponent("v1"))
    #expect(registry.reload().rejected["v1"]?.contains("the backbone weights changed") == true)
  }

  @Test("two folders claiming one version: the second is refused")
  func duplicateVersion() throws {
    let repo = TinyRepository.folder()
    let v1 = try TinyRepository.version("v1", createdAt: "2026-01-01T00:00:00Z")
    try v1.save(to: repo.appendingPathComponent("a"))
    try v1.save(to: repo.appendingPathComponent("b"))
    let registry = ModelRegistry(directory: repo, logger: logger)
    let summary = registry.reload()
    #expect(summary.loaded == ["v1"])
    #expect(summary.rejected["b"]?.contains("already served from folder a") == true)
  }
}
