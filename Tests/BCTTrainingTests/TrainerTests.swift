import BCTData
import BCTEvaluation
import BCTModel
import BCTModelRepository
import BCTNumerics
import BCTTraining
import Foundation
import Testing

/// Small real-data training runs (Fashion-MNIST from Debian), sized for a debug build.
@Suite("Trainer", .enabled(if: FileManager.default.fileExists(atPath: DataSource.debianFashionMNIST + "/train-images-idx3-ubyte.gz")))
struct TrainerTests {
  static let source = DataSource.fashionMNIST(directory: DataSource.debianFashionMNIST)
  static let train = try! source.load(.train).fraction(0.01, seed: 0)   // 600 examples
  static let test = try! source.load(.test).subset(Array(0..<400))

  static func config(epochs: Int = 2, compat: CompatibilityObjective = .influence) -> TrainingConfiguration {
    var c = TrainingConfiguration()
    c.architecture = .mlp(hidden: [64])
    c.embeddingDim = 16
    c.epochs = epochs
    c.batchSize = 64
    c.compatibility = compat
    return c
  }

  static func folder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("bct-train-\(UUID().uuidString)")
  }

  @Test("training lowers the loss and retrieves far above chance")
  func learns() throws {
    var losses: [Float] = []
    let model = try Trainer(configuration: Self.config(epochs: 3)).train(
      on: Self.train, old: nil, run: .init(version: "v1", dataset: "fashion-mnist", classes: nil, fraction: 0.01)
    ) { if $0.epochFinished { losses.append($0.loss) } }
    #expect(losses.count == 3 && losses[2] < losses[0])
    let z = model.backbone.embed(Self.test.inputs).l2NormalizedRows()
    let scores = RetrievalMetrics.evaluate(
      queries: z, queryLabels: Self.test.labels, gallery: z, galleryLabels: Self.test.labels, excludeSelf: true)
    #expect(scores.top1 > 0.5, "top-1 \(scores.top1) should be far above 10% chance")
    #expect(model.manifest.lineage == model.manifest.head.fingerprint && model.manifest.parentVersion == nil)
  }

  @Test("the old head stays bit-for-bit frozen while a compatible version trains",
        arguments: [CompatibilityObjective.influence, .contrastive, .l2, .ract])
  func oldHeadFrozen(compat: CompatibilityObjective) throws {
    let v1 = try Trainer(configuration: Self.config(epochs: 1)).train(
      on: Self.train, old: nil, run: .init(version: "v1", dataset: "fashion-mnist", classes: nil, fraction: 0.01))
    let dir = Self.folder()
    try v1.save(to: dir)
    let headBytes = try Data(contentsOf: dir.appendingPathComponent("head.safetensors"))
    let loaded = try ModelVersion.load(from: dir)
    var config = Self.config(epochs: 1, compat: compat)
    config.seed = 1
    let v2 = try Trainer(configuration: config).train(
      on: Self.train, old: loaded, run: .init(version: "v2", dataset: "fashion-mnist", classes: nil, fraction: 0.01))
    #expect(loaded.head == v1.head)
    #expect(try Data(contentsOf: dir.appendingPathComponent("head.safetensors")) == headBytes)
    #expect(try ModelVersion.load(from: dir).head.weight.values.map(\.bitPattern) == v1.head.weight.values.map(\.bitPattern))
    #expect(v2.head != v1.head, "the new version trains its own head")
    #expect(v2.manifest.lineage == v1.manifest.lineage)
    #expect(v2.manifest.parentVersion == "v1")
    #expect(v2.manifest.compatibleWith.isEmpty && v2.manifest.compatibility == nil, "only a certificate makes a pair compatible")
    #expect(v2.manifest.training.compatibilityObjective == compat.rawValue)
  }

  @Test("Procrustes: an independent model rotated toward the old space keeps its own similarities")
  func procrustes() throws {
    let v1 = try Trainer(configuration: Self.config(epochs: 1)).train(
      on: Self.train, old: nil, run: .init(version: "v1", dataset: "d", classes: nil, fraction: 1))
    var config = Self.config(epochs: 1, compat: .none)
    config.seed = 5
    let independent = try Trainer(configuration: config).train(
      on: Self.train, old: nil, run: .init(version: "v2", dataset: "d", classes: nil, fraction: 1))
    config.compatibility = .procrustes
    let rotated = try Trainer(configuration: config).train(
      on: Self.train, old: v1, run: .init(version: "v2", dataset: "d", classes: nil, fraction: 1))
    #expect(rotated.manifest.lineage == v1.manifest.lineage && rotated.manifest.training.compatibilityObjective == "procrustes")
    let x = Self.test.inputs.rows(0..<64)
    let a = independent.backbone.embed(x).l2NormalizedRows(), b = rotated.backbone.embed(x).l2NormalizedRows()
    let gramA = BLAS.matmul(a, a, transposeB: .transposed), gramB = BLAS.matmul(b, b, transposeB: .transposed)
    #expect(zip(gramA.values, gramB.values).allSatisfy { abs($0 - $1) < 1e-3 }, "same seed, same training, then a rotation")
    let old = v1.backbone.embed(x).l2NormalizedRows()
    func meanCosine(_ z: Matrix) -> Float {
      (0..<z.rows).map { r in (0..<z.columns).map { z[r, $0] * old[r, $0] }.reduce(0, +) }.reduce(0, +) / Float(z.rows)
    }
    #expect(meanCosine(b) > meanCosine(a) + 0.2, "the rotation brings new embeddings toward the old ones")
  }

  @Test("an independent version starts its own lineage")
  func independent() throws {
    let v1 = try Trainer(configuration: Self.config(epochs: 1)).train(
      on: Self.train, old: nil, run: .init(version: "v1", dataset: "d", classes: nil, fraction: 1))
    var config = Self.config(epochs: 1, compat: .none)
    config.seed = 4
    let v2 = try Trainer(configuration: config).train(
      on: Self.train, old: v1, run: .init(version: "v2", dataset: "d", classes: nil, fraction: 1))
    #expect(v2.manifest.lineage != v1.manifest.lineage && v2.manifest.compatibleWith.isEmpty)
    #expect(v2.manifest.training.options["trained-after"] == "v1")
  }

  @Test("classes the old model never saw get synthesized rows: old-model class means")
  func synthesizedRows() throws {
    let oldData = Self.train.keepingClasses([0, 1, 2, 3, 4])
    var config = Self.config(epochs: 1)
    let v1 = try Trainer(configuration: config).train(
      on: oldData, old: nil, run: .init(version: "v1", dataset: "d", classes: [0, 1, 2, 3, 4], fraction: 1))
    #expect(v1.head.classCount == 5)
    let head = try Trainer.frozenOldHead(v1, for: Self.train)
    #expect(head.classCount == 10)
    #expect(Array(head.weight.values.prefix(5 * 16)) == v1.head.weight.values)
    let sevens = Self.train.labels.indices.filter { Self.train.labels[$0] == 7 }
    let mean = v1.backbone.embed(Self.train.inputs.gatherRows(sevens)).columnSums().scaled(by: 1 / Float(sevens.count))
    for c in 0..<16 { #expect(abs(head.weight[7, c] - mean.values[c]) < 1e-4) }
    config.seed = 2
    let v2 = try Trainer(configuration: config).train(
      on: Self.train, old: v1, run: .init(version: "v2", dataset: "d", classes: nil, fraction: 1))
    #expect(v2.head.classCount == 10 && v2.manifest.parentVersion == "v1")
  }

  @Test("ETF heads: fixed during training and shared by a compatible version")
  func etf() throws {
    var config = Self.config(epochs: 1)
    config.head = .etf
    let v1 = try Trainer(configuration: config).train(
      on: Self.train, old: nil, run: .init(version: "v1", dataset: "d", classes: nil, fraction: 1))
    let etf = try ClassifierHead.etf(classes: 10, embeddingDim: 16, seed: config.seed &+ 0xE7F)
    #expect(v1.head == etf, "an ETF head is never trained")
    config.seed = 3
    let v2 = try Trainer(configuration: config).train(
      on: Self.train, old: v1, run: .init(version: "v2", dataset: "d", classes: nil, fraction: 1))
    #expect(v2.head == v1.head && v2.manifest.head.fingerprint == v1.manifest.head.fingerprint)
  }

  @Test("InfoNCE with a queue and augmentations trains a CNN without diverging")
  func infoNCE() throws {
    var config = Self.config(epochs: 1)
    config.architecture = .cnn(channels: [4], hidden: 16)
    config.infoNCEWeight = 0.5
    config.queueSize = 128
    let model = try Trainer(configuration: config).train(
      on: Self.train.subset(Array(0..<192)), old: nil, run: .init(version: "v1", dataset: "d", classes: nil, fraction: 1))
    #expect(model.manifest.training.options["queue-size"] == "128")
    #expect(model.backbone.embed(Self.test.inputs.rows(0..<8)).isFinite)
  }

  @Test("an old version with another embedding dimension is refused")
  func dimensionMismatch() throws {
    let v1 = try Trainer(configuration: Self.config(epochs: 1)).train(
      on: Self.train, old: nil, run: .init(version: "v1", dataset: "d", classes: nil, fraction: 1))
    var config = Self.config(epochs: 1)
    config.embeddingDim = 32
    #expect { try Trainer(configuration: config).train(on: Self.train, old: v1, run: .init(version: "v2", dataset: "d", classes: nil, fraction: 1)) }
      throws: { "\($0)".contains("share the embedding dimension") }
  }
}
