import BCTIndex
import BCTNumerics
import Testing

@Suite("Quantized flat index (SQ8, f16) with an exact re-rank")
struct QuantizedFlatIndexTests {
  static func ids(_ range: Range<Int>) -> [String] { range.map { "doc-\($0)" } }

  /// Exact inner products of `query` with every row of `docs` under `ids`.
  static func exactTop(_ docs: Matrix, ids: [String], _ queries: Matrix, k: Int) -> [[ScoredID]] {
    var flat = FlatIndex(dimension: docs.columns)
    flat.add(ids: ids, vectors: docs)
    return flat.search(queries, k: k)
  }

  static func expectExact(_ got: [[ScoredID]], _ expected: [[ScoredID]], _ what: String) {
    #expect(got.map { $0.map(\.id) } == expected.map { $0.map(\.id) }, "\(what): ids")
    for (g, e) in zip(got, expected) {
      for (a, b) in zip(g, e) { #expect(abs(a.score - b.score) < 1e-5, "\(what): \(a.score) vs \(b.score)") }
    }
  }

  @Test("the re-ranked results are the exact top-k with exact scores, single queries and batches", arguments: VectorEncoding.allCases)
  func exactReRank(encoding: VectorEncoding) {
    let docs = HNSWIndexTests.vectors(6_000, 64, clusters: 12, seed: 21)
    let queries = HNSWIndexTests.vectors(40, 64, clusters: 12, seed: 22)
    var index = QuantizedFlatIndex(dimension: 64, encoding: encoding)
    index.add(ids: Self.ids(0..<6_000), vectors: docs)
    let expected = Self.exactTop(docs, ids: Self.ids(0..<6_000), queries, k: 10)
    Self.expectExact(index.search(queries, k: 10), expected, "batch")
    Self.expectExact((0..<40).map { index.search(queries.rows($0..<($0 + 1)), k: 10)[0] }, expected, "single")
    #expect(index.scannedBytes == 6_000 * 64 * (encoding == .sq8 ? 1 : 2))
    #expect(index.description.kind == "flat-\(encoding.rawValue)")
  }

  @Test("removals, replacements and later vectors outside the first ranges keep every code in its row", arguments: VectorEncoding.allCases)
  func changesKeepRowsAligned(encoding: VectorEncoding) {
    let docs = HNSWIndexTests.vectors(3_000, 32, clusters: 6, seed: 23)
    var index = QuantizedFlatIndex(dimension: 32, encoding: encoding)
    // A first batch of small values, so that later unit vectors fall outside SQ8's ranges.
    index.add(ids: Self.ids(0..<500), vectors: Matrix(rows: 500, columns: 32, values: docs.rows(0..<500).values.map { $0 * 0.1 }))
    index.add(ids: Self.ids(0..<3_000), vectors: docs)
    index.remove(ids: Self.ids(0..<3_000).filter { $0.hasSuffix("7") })
    let replaced = HNSWIndexTests.vectors(100, 32, clusters: 6, seed: 24)
    index.add(ids: Self.ids(1_000..<1_100), vectors: replaced)
    var flat = FlatIndex(dimension: 32)
    flat.add(ids: Self.ids(0..<3_000), vectors: docs)
    flat.remove(ids: Self.ids(0..<3_000).filter { $0.hasSuffix("7") })
    flat.add(ids: Self.ids(1_000..<1_100), vectors: replaced)
    #expect(index.count == flat.count)
    let queries = HNSWIndexTests.vectors(30, 32, clusters: 6, seed: 25)
    Self.expectExact(index.search(queries, k: 10), flat.search(queries, k: 10), "after changes")
  }

  @Test("a filter is answered exactly from the float32 vectors")
  func filteredSearchIsExact() {
    let docs = HNSWIndexTests.vectors(2_000, 16, clusters: 4, seed: 26)
    var index = QuantizedFlatIndex(dimension: 16, encoding: .sq8)
    index.add(ids: Self.ids(0..<2_000), vectors: docs)
    let allowed = Set(Self.ids(0..<2_000).filter { $0.hasSuffix("3") })
    let filter = IDFilter(allowed)
    let queries = HNSWIndexTests.vectors(5, 16, clusters: 4, seed: 27)
    let got = index.search(queries, k: 5, filter: filter)
    #expect(got.joined().allSatisfy { allowed.contains($0.id) })
    var flat = FlatIndex(dimension: 16)
    flat.add(ids: Self.ids(0..<2_000), vectors: docs)
    #expect(got == flat.search(queries, k: 5, filter: filter))
  }
}
