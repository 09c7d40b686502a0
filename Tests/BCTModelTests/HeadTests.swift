import BCTModel
import BCTNumerics
import Testing

@Suite("Classifier heads")
struct HeadTests {
  @Test("an ETF head has unit, centred, equiangular rows")
  func etfGeometry() throws {
    let head = try ClassifierHead.etf(classes: 5, embeddingDim: 8, seed: 1)
    #expect(head.kind == .etf)
    let gram = BLAS.matmul(head.weight, head.weight, transposeB: .transposed)
    for i in 0..<5 {
      for j in 0..<5 {
        let expected: Float = i == j ? 1 : -1 / 4
        #expect(abs(gram[i, j] - expected) < 1e-4)
      }
    }
    #expect(head.bias.values.allSatisfy { $0 == 0 })
    #expect(throws: ModelError.self) { try ClassifierHead.etf(classes: 9, embeddingDim: 8, seed: 1) }
  }

  @Test("head backward matches finite differences for features and weights")
  func headGradient() {
    var generator = SeededGenerator(seed: 5)
    let head = ClassifierHead.linear(classes: 4, embeddingDim: 3, generator: &generator)
    let f = Matrix.gaussian(rows: 2, columns: 3, std: 1, using: &generator)
    let g = Matrix.gaussian(rows: 2, columns: 4, std: 1, using: &generator)
    func loss(_ h: ClassifierHead, _ x: Matrix) -> Float { zip(h.logits(x).values, g.values).reduce(0) { $0 + $1.0 * $1.1 } }
    let (df, dw, db) = head.backward(features: f, logitGradient: g, needsParameterGradients: true)
    let eps: Float = 1e-2
    for i in 0..<6 {
      var p = f, m = f
      p.values[i] += eps; m.values[i] -= eps
      #expect(abs((loss(head, p) - loss(head, m)) / (2 * eps) - df.values[i]) < 1e-2)
    }
    for i in 0..<12 {
      var p = head, m = head
      p.weight.values[i] += eps; m.weight.values[i] -= eps
      #expect(abs((loss(p, f) - loss(m, f)) / (2 * eps) - dw!.values[i]) < 1e-2)
    }
    #expect(db!.values == g.columnSums().values)
    let frozen = head.backward(features: f, logitGradient: g, needsParameterGradients: false)
    #expect(frozen.weight == nil && frozen.bias == nil)
  }

  @Test("architectures parse their recorded parameters and reject bad ones")
  func architectureParsing() throws {
    #expect(try Architecture(name: "mlp", parameters: Architecture.defaultMLP.parameters) == .defaultMLP)
    #expect(try Architecture(name: "cnn", parameters: Architecture.defaultCNN.parameters) == .defaultCNN)
    #expect(throws: ModelError.self) { try Architecture(name: "resnet") }
    #expect(throws: ModelError.self) { try Architecture(name: "mlp", parameters: ["hidden": "512,x"]) }
    #expect(throws: ModelError.self) { try Architecture(name: "mlp", parameters: ["hidden": "0"]) }
  }
}
