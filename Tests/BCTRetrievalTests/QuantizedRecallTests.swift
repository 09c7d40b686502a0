import BCTIndex
import BCTModelRepository
import BCTNumerics
import BCTTestSupport
import Testing

/// The quantized flat indexes on real embeddings: the 10,000 Fashion-MNIST test
/// images embedded by the fixture's trained model (v1), the first 500 as queries
/// against all of them.
@Suite("Quantized indexes on real embeddings")
struct QuantizedRecallTests {
  @Test("recall@10 against exact search is at least 0.99, every returned score exact", arguments: VectorEncoding.allCases)
  func recallOnEmbeddings(encoding: VectorEncoding) async throws {
    let repository = try await RetrievalProcessTests.repository()
    let model = try ModelVersion.load(from: repository.appendingPathComponent("v1"))
    let docs = model.backbone.embed(RetrievalProcessTests.test.inputs).l2NormalizedRows()
    let queries = docs.rows(0..<500)
    let ids = (0..<docs.rows).map { "test-\($0)" }
    var exact = FlatIndex(dimension: docs.columns)
    exact.add(ids: ids, vectors: docs)
    var quantized = QuantizedFlatIndex(dimension: docs.columns, encoding: encoding)
    quantized.add(ids: ids, vectors: docs)
    let truth = exact.search(queries, k: 10)
    let got = quantized.search(queries, k: 10)
    let found = zip(got, truth).map { g, t in Set(g.map(\.id)).intersection(t.map(\.id)).count }.reduce(0, +)
    let recall = Double(found) / Double(500 * 10)
    #expect(recall >= 0.99, "\(encoding): recall@10 \(recall)")
    for (q, hits) in got.enumerated() {
      for hit in hits {
        let row = Int(hit.id.dropFirst(5))!
        let score = (0..<docs.columns).reduce(Float(0)) { $0 + queries[q, $1] * docs[row, $1] }
        #expect(abs(hit.score - score) < 1e-5)
      }
    }
    #expect(quantized.scannedBytes * (encoding == .sq8 ? 4 : 2) == exact.vectorBytes)
  }
}
