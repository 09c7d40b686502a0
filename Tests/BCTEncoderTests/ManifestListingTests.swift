import BCTEncoder
import BCTModelRepository
import BCTProto
import Testing

@Suite("Listing a manifest")
struct ManifestListingTests {
  @Test("numbers a manifest may hold beyond 32 bits are listed clamped, never trapped on")
  func hugeNumbers() {
    let manifest = Manifest(
      version: "v1", architecture: .init(name: "mlp", parameters: ["hidden": "5"]), inputShape: [1, 6, 6],
      inputNormalization: .fashionMNIST, embeddingDim: 1 << 40, head: .init(kind: "linear", fingerprint: "f", numClasses: Int.max),
      lineage: "f", parentVersion: nil, compatibleWith: [],
      training: .init(dataset: "test", seed: 9, classes: [0], fraction: 1, compatibilityObjective: "none",
                      epochs: 1 << 40, batchSize: 2, optimizer: "adam", learningRate: 0.001, options: [:], examples: 3, seconds: 0),
      evaluations: [], createdAt: "2026-01-01T00:00:00Z")
    let info = ModelInfoMapping.info(manifest, relations: [:], isDefault: true)
    #expect(info.training.epochs == Int32.max && info.embeddingDim == Int32.max && info.numClasses == Int32.max)
  }
}
