import BCTIndex
import BCTNumerics
import Testing

@Suite("Exact inner-product index")
struct FlatIndexTests {
  static func random(_ rows: Int, _ columns: Int, seed: UInt64) -> Matrix {
    var generator = SeededGenerator(seed: seed)
    return Matrix.gaussian(rows: rows, columns: columns, std: 1, using: &generator).l2NormalizedRows()
  }

  static func bruteForce(_ queries: Matrix, _ docs: Matrix, ids: [String], k: Int) -> [[ScoredID]] {
    (0..<queries.rows).map { q in
      var all: [ScoredID] = []
      for d in 0..<docs.rows {
        var score: Float = 0
        for j in 0..<docs.columns { score += queries[q, j] * docs[d, j] }
        all.append(ScoredID(id: ids[d], score: score))
      }
      return Array(all.sorted(by: ScoredID.ranksBefore).prefix(k))
    }
  }

  @Test("matches brute force for single queries (SGEMV) and batches (blocked SGEMM)", arguments: [1, 7, 64])
  func exact(queries q: Int) {
    let docs = Self.random(1000, 16, seed: 1)
    let ids = (0..<1000).map { "doc-\($0)" }
    var index = FlatIndex(dimension: 16)
    index.blockSize = 300
    index.add(ids: ids, vectors: docs)
    let queries = Self.random(q, 16, seed: 2)
    let got = index.search(queries, k: 10)
    let expected = Self.bruteForce(queries, docs, ids: ids, k: 10)
    #expect(got.count == q)
    for (g, e) in zip(got, expected) {
      #expect(g.map(\.id) == e.map(\.id))
      for (a, b) in zip(g, e) { #expect(abs(a.score - b.score) < 1e-5) }
    }
  }

  @Test("a single query through the fused candidate kernel equals brute force: k of 1, 10 and over n; many equal scores overflow its output and resume", arguments: [1, 10, 12_000])
  func singleQueryCandidates(k: Int) {
    let distinct = Self.random(10_000, 24, seed: 7)
    // The last 6,000 rows repeat one vector: 6,000 equal scores (more than the
    // kernel's output holds at once), ties broken by id.
    var values = distinct.values
    for r in 4_000..<10_000 { values.replaceSubrange((r * 24)..<((r + 1) * 24), with: distinct.values[0..<24]) }
    let docs = Matrix(rows: 10_000, columns: 24, values: values)
    let ids = (0..<10_000).map { "doc-\(($0 * 7919) % 10_000)" }
    var index = FlatIndex(dimension: 24)
    index.add(ids: ids, vectors: docs)
    for query in [Self.random(1, 24, seed: 8), Matrix(rows: 1, columns: 24, values: Array(distinct.values[0..<24]))] {
      let got = index.search(query, k: k)[0]
      let expected = Self.bruteForce(query, docs, ids: ids, k: k)[0]
      #expect(got.map(\.id) == expected.map(\.id))
      for (a, b) in zip(got, expected) { #expect(abs(a.score - b.score) < 1e-5) }
    }
  }

  @Test("ties are broken by id, so results are deterministic")
  func ties() {
    var index = FlatIndex(dimension: 2)
    let ids = ["e", "b", "d", "a", "c"]
    index.add(ids: ids, vectors: Matrix(rows: 5, columns: 2, values: [1, 0, 1, 0, 0, 1, 1, 0, 1, 0]))
    let single = index.search(Matrix(rows: 1, columns: 2, values: [1, 0]), k: 3)[0]
    #expect(single.map(\.id) == ["a", "b", "c"])
    let batch = index.search(Matrix(rows: 2, columns: 2, values: [1, 0, 1, 0]), k: 5)
    #expect(batch[0].map(\.id) == ["a", "b", "c", "e", "d"] && batch[1] == batch[0])
  }

  @Test("remove keeps storage contiguous; removed ids never come back; re-adding replaces")
  func removeAndReplace() {
    let docs = Self.random(50, 8, seed: 3)
    let ids = (0..<50).map { "d\($0)" }
    var index = FlatIndex(dimension: 8)
    index.add(ids: ids, vectors: docs)
    let removed = stride(from: 0, to: 50, by: 3).map { "d\($0)" }
    #expect(index.remove(ids: removed + ["nope"]) == removed.count)
    #expect(index.count == 50 - removed.count && index.vectorBytes == index.count * 8 * 4)
    let kept = ids.filter { !removed.contains($0) }
    let keptRows = kept.map { Int($0.dropFirst())! }
    let expected = Self.bruteForce(docs.gatherRows(Array(0..<5)), docs.gatherRows(keptRows), ids: kept, k: 50)
    let got = index.search(docs.gatherRows(Array(0..<5)), k: 50)
    #expect(got.map { $0.map(\.id) } == expected.map { $0.map(\.id) })
    for id in kept { #expect(index.vector(for: id) == Array(docs.values[(Int(id.dropFirst())! * 8)..<((Int(id.dropFirst())! + 1) * 8)])) }
    index.add(ids: ["d1"], vectors: Matrix(rows: 1, columns: 8, values: docs.values[0..<8].map { $0 }))
    #expect(index.count == kept.count && index.vector(for: "d1") == Array(docs.values[0..<8]))
    #expect(index.search(Matrix(rows: 1, columns: 8, values: Array(docs.values[0..<8])), k: 1)[0][0].score > 0.999)
  }

  @Test("k larger than the index returns everything; an empty index returns nothing")
  func edges() {
    var index = FlatIndex(dimension: 4)
    #expect(index.search(Self.random(2, 4, seed: 1), k: 5) == [[], []])
    index.add(ids: ["a", "b"], vectors: Self.random(2, 4, seed: 4))
    #expect(index.search(Self.random(1, 4, seed: 1), k: 100)[0].count == 2)
  }

  @Test("a versioned index searches only the versions asked for and moves re-embedded ids")
  func versioned() {
    var index = VersionedIndex()
    index.upsert(ids: ["a", "b"], vectors: Matrix(rows: 2, columns: 2, values: [1, 0, 0, 1]), version: "v1")
    index.upsert(ids: ["c"], vectors: Matrix(rows: 1, columns: 2, values: [0.9, 0.1]), version: "v2")
    #expect(index.countsByVersion == ["v1": 2, "v2": 1])
    let query = Matrix(rows: 1, columns: 2, values: [1, 0])
    #expect(index.search(query, k: 3, versions: ["v1", "v2"])[0].map(\.scored.id) == ["a", "c", "b"])
    #expect(index.search(query, k: 3, versions: ["v2"])[0].map(\.version) == ["v2"])
    index.upsert(ids: ["a"], vectors: Matrix(rows: 1, columns: 2, values: [0, 1]), version: "v2")
    #expect(index.countsByVersion == ["v1": 1, "v2": 2] && index.version(of: "a") == "v2")
    #expect(index.remove(ids: ["a", "zz"]) == ["a"] && index.count == 2)
  }

  @Test("top-k selection keeps the k best of a stream")
  func topK() {
    var selection = TopK(k: 3)
    for (i, score) in [0.1, 0.9, 0.5, 0.7, 0.3, 0.9].enumerated() { selection.offer(ScoredID(id: "x\(i)", score: Float(score))) }
    #expect(selection.sorted().map(\.id) == ["x1", "x5", "x3"])
  }
}
