import BCTCollection
@testable import BCTIndex
import BCTNumerics
import BCTProto
import Foundation
import PropertyBased
@testable import BCTRetrieval
import Testing

/// Random catalogues and filters for property tests: filters are decoded from an
/// integer program (so the property library shrinks a failing filter by shrinking
/// the program), metadata from small integers over a few keys whose values mix
/// numbers and text.
enum FilterCases {
  static let keys = ["k0", "k1", "k2", "k3"]
  static let values = ["0", "1", "2", "10", "-1.5", "x", "1e1", "01"]

  /// Metadata from one integer per key: an index into `values`, or absent.
  static func metadata(_ codes: [Int]) -> [String: String] {
    var out: [String: String] = [:]
    for (key, code) in zip(keys, codes) where code < values.count { out[key] = values[code] }
    return out
  }

  /// A filter read from `program`, at most `depth` levels deep.
  static func filter(_ program: [Int]) -> MetadataFilter {
    var cursor = 0
    return decode(program, &cursor, depth: 0)
  }

  private static func decode(_ p: [Int], _ i: inout Int, depth: Int) -> MetadataFilter {
    func next() -> Int {
      defer { i += 1 }
      return i < p.count ? p[i] : 0
    }
    let op = next() % (depth >= 4 ? 4 : 7)
    let key = keys[next() % keys.count]
    switch op {
    case 0: return .equals(key: key, value: values[next() % values.count])
    case 1: return .oneOf(key: key, values: [values[next() % values.count], values[next() % values.count]])
    case 2:
      let lower = next() % 3 == 0 ? nil : MetadataFilter.Bound(Double(next() % 7) - 2, inclusive: next() % 2 == 0)
      let upper = next() % 3 == 0 ? nil : MetadataFilter.Bound(Double(next() % 12) - 1, inclusive: next() % 2 == 0)
      return .range(key: key, lower: lower ?? (upper == nil ? .init(0, inclusive: true) : nil), upper: upper)
    case 3: return .hasKey(key)
    case 4: return .all([decode(p, &i, depth: depth + 1), decode(p, &i, depth: depth + 1)])
    case 5: return .any([decode(p, &i, depth: depth + 1), decode(p, &i, depth: depth + 1)])
    default: return .not(decode(p, &i, depth: depth + 1))
    }
  }

  /// A unit vector for document `i` (deterministic).
  static func vector(_ i: Int, dimension: Int, seed: UInt64 = 1) -> [Float] {
    var generator = SeededGenerator(seed: seed &* 1_000_003 &+ UInt64(i))
    let row = (0..<dimension).map { _ in generator.nextGaussian() }
    let norm = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return row.map { $0 / norm }
  }

  static func document(_ id: String, _ metadata: [String: String], _ vector: [Float]) -> StoredDocument {
    StoredDocument(id: id, metadata: metadata, inputShape: [], input: [], version: "v1", vector: vector)
  }

  /// The ids of the `k` best of `documents` for `query` among those `filter` passes, by brute force.
  static func bruteForce(_ query: [Float], _ documents: [String: StoredDocument], filter: MetadataFilter, k: Int) -> [String] {
    let passing = documents.values.filter { filter.matches($0.metadata) }
    let scored = passing.map { doc in (doc.id, zip(query, doc.vector).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }
    return scored.sorted { $0.1 != $1.1 ? $0.1 > $1.1 : $0.0 < $1.0 }.prefix(k).map(\.0)
  }
}

@Suite("Metadata filters")
struct MetadataFilterTests {
  @Test("numbers are read as JSON writes them, finite; nothing else is a number")
  func numbers() {
    for (text, value) in [("0", 0.0), ("-1.5", -1.5), ("2020", 2020), ("3e2", 300), ("1E-2", 0.01), ("-0", 0)] {
      #expect(MetadataFilter.number(text) == value, "\(text)")
    }
    for text in ["", " 1", "1 ", "+1", "01", "1.", ".5", "0x10", "NaN", "inf", "1e999", "1e", "--1", "1,5", "٣"] {
      #expect(MetadataFilter.number(text) == nil, "\(text)")
    }
  }

  @Test("a request's filter is checked: clauses, keys, lists, bounds, depth and size")
  func wireChecks() throws {
    func refused(_ filter: Bct_V1_Filter) -> String? {
      do {
        _ = try MetadataFilter(wire: filter, field: "filter")
        return nil
      } catch let error as RetrievalError {
        guard case .invalidArgument(let field, _) = error else { return "wrong case \(error)" }
        return field
      } catch { return "wrong error \(error)" }
    }
    #expect(refused(Bct_V1_Filter()) == "filter")
    #expect(refused(.with { $0.equals = .with { $0.value = "a" } }) == "filter.equals.key")
    #expect(refused(.with { $0.oneOf = .with { $0.key = "k" } }) == "filter.one_of.values")
    #expect(refused(.with { $0.range = .with { $0.key = "k" } }) == "filter.range")
    #expect(refused(.with { $0.range = .with { ($0.key, $0.lower.value) = ("k", .nan) } }) == "filter.range.lower")
    #expect(refused(.with { $0.range = .with { ($0.key, $0.upper.value) = ("k", .infinity) } }) == "filter.range.upper")
    #expect(refused(.with { $0.allOf = Bct_V1_FilterList() }) == "filter.all_of")
    #expect(refused(.with { $0.anyOf.filters = [Bct_V1_Filter()] }) == "filter.any_of.filters[0]")
    var deep = Bct_V1_Filter.with { $0.keyExists = "k" }
    for _ in 0..<16 { deep = .with { [deep] in $0.negate = deep } }
    #expect(refused(deep) == "filter" + String(repeating: ".negate", count: 16))
    let leaf = Bct_V1_Filter.with { $0.keyExists = "k" }
    let wide = Bct_V1_Filter.with { $0.anyOf.filters = Array(repeating: .with { $0.allOf.filters = Array(repeating: leaf, count: 20) }, count: 60) }
    #expect(refused(wide)?.hasPrefix("filter.any_of.filters[48]") == true)
    let fine = Bct_V1_Filter.with { $0.anyOf.filters = [leaf, .with { $0.range = .with { ($0.key, $0.upper.value) = ("k", 3) } }] }
    #expect(refused(fine) == nil)
    let decoded = try MetadataFilter(wire: fine, field: "filter")
    #expect(try MetadataFilter(wire: Bct_V1_Filter(decoded), field: "filter") == decoded)
  }

  @Test("the memory store's postings pass exactly the documents a filter matches, through replacements and deletes")
  func postingsMatchBruteForce() async {
    let program = Gen.int(in: 0...1000).array(of: 1...24)
    let catalogue = Gen.int(in: 0...9).array(of: 4).array(of: 1...150)
    await propertyCheck(count: 150, input: program, catalogue) { program, catalogue in
      let filter = FilterCases.filter(program)
      // As drawn (some documents lack keys), and with every key on every document
      // (where a permissive leaf is read from its failing postings).
      for codes in [catalogue, catalogue.map { row in row.prefix(3).map { $0 % FilterCases.values.count } + [row[3]] }] {
        let (state, documents) = Self.state(codes, indexKind: .flat)
        let expected = Set(documents.values.filter { filter.matches($0.metadata) }.map(\.id))
        guard let allowed = state.metadataIndex.idFilter(filter) else {
          #expect(expected.count == documents.count, "no filter only when every document passes: \(filter)")
          continue
        }
        #expect(Set(allowed.ids) == expected, "\(filter)")
        #expect(allowed.count == expected.count && expected.count < documents.count)
        for id in documents.keys { #expect(allowed.contains(id) == expected.contains(id)) }
      }
    }
  }

  @Test("filtered flat search equals brute force over the passing documents, on either path (gathered or scanned)")
  func flatSearchMatchesBruteForce() async {
    let program = Gen.int(in: 0...1000).array(of: 1...24)
    let catalogue = Gen.int(in: 0...9).array(of: 4).array(of: 1...200)
    await propertyCheck(count: 150, input: program, catalogue, Gen.int(in: 1...12)) { program, catalogue, k in
      let filter = FilterCases.filter(program)
      let (state, documents) = Self.state(catalogue, indexKind: .flat)
      for q in 0..<3 {
        let query = FilterCases.vector(10_000 + q, dimension: 8)
        let hits = state.index.search(
          Matrix(rows: 1, columns: 8, values: query), k: k, versions: state.index.versions,
          filter: state.metadataIndex.idFilter(filter))[0]
        let expected = FilterCases.bruteForce(query, documents, filter: filter, k: k)
        #expect(hits.map(\.scored.id) == expected, "\(filter)")
        // The same through an id set (no key bits): the id-lookup paths.
        let byID = IDFilter(Set(documents.values.filter { filter.matches($0.metadata) }.map(\.id)))
        let unkeyed = state.index.search(Matrix(rows: 1, columns: 8, values: query), k: k, versions: state.index.versions, filter: byID)[0]
        #expect(unkeyed.map(\.scored.id) == expected, "\(filter)")
      }
    }
  }

  /// A collection from `catalogue` (one row of codes per document: three metadata
  /// codes and an action): every document upserted, then some replaced with other
  /// metadata and some deleted; returns it and the documents it should hold.
  static func state(_ catalogue: [[Int]], indexKind: IndexKind) -> (CollectionState, [String: StoredDocument]) {
    var state = CollectionState(indexKind: indexKind)
    var documents: [String: StoredDocument] = [:]
    let first = catalogue.enumerated().map { i, codes in
      FilterCases.document("d\(i)", FilterCases.metadata(Array(codes.prefix(3))), FilterCases.vector(i, dimension: 8))
    }
    state.apply(.upsert(first))
    for doc in first { documents[doc.id] = doc }
    var replaced: [StoredDocument] = []
    var deleted: [String] = []
    for (i, codes) in catalogue.enumerated() {
      switch codes[3] {
      case 0, 1: replaced.append(FilterCases.document("d\(i)", FilterCases.metadata([codes[2], codes[0], codes[1]]), FilterCases.vector(i + 500, dimension: 8)))
      case 2: deleted.append("d\(i)")
      default: break
      }
    }
    state.apply(.upsert(replaced))
    for doc in replaced { documents[doc.id] = doc }
    state.apply(.delete(deleted))
    for id in deleted { documents[id] = nil }
    return (state, documents)
  }

  @Test("filtered HNSW search: recall@10 >= 0.95 against exact filtered search at every selectivity from 0.1% to 100%")
  func hnswRecall() {
    let count = 8000, dimension = 32
    var state = CollectionState(indexKind: .hnsw(HNSWParameters()))
    state.apply(.upsert((0..<count).map { i in
      FilterCases.document("d\(i)", ["bucket": "\((i * 7919) % 1000)"], FilterCases.vector(i, dimension: dimension, seed: 3))
    }))
    let flat = (0..<count).map { i in FilterCases.vector(i, dimension: dimension, seed: 3) }
    for share in [0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1.0] {
      let filter = MetadataFilter.range(key: "bucket", lower: nil, upper: .init(share * 1000, inclusive: false))
      let allowed = state.metadataIndex.idFilter(filter) ?? IDFilter(Set((0..<count).map { "d\($0)" }))
      #expect(allowed.count == Int((Double(count) * share).rounded()))
      var found = 0, possible = 0
      for q in 0..<40 {
        let query = FilterCases.vector(50_000 + q, dimension: dimension, seed: 3)
        let hits = state.index.search(Matrix(rows: 1, columns: dimension, values: query), k: 10, versions: ["v1"], filter: allowed)[0]
        let passing = (0..<count).filter { allowed.contains("d\($0)") }
        let exact = passing.map { ($0, zip(query, flat[$0]).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }
          .sorted { $0.1 > $1.1 }.prefix(10).map { "d\($0.0)" }
        #expect(hits.allSatisfy { allowed.contains($0.scored.id) })
        found += Set(hits.map(\.scored.id)).intersection(exact).count
        possible += exact.count
      }
      let recall = Double(found) / Double(max(possible, 1))
      #expect(recall >= 0.95, "selectivity \(share): recall@10 \(recall)")
    }
  }

  @Test("listing order: pages in UTF-8 byte order, resumable while documents come and go, none twice or missed")
  func listingPages() async {
    let ops = Gen.int(in: 0...99).array(of: 0...400)
    await propertyCheck(count: 120, input: ops, Gen.int(in: 1...7), Gen.int(in: 1...40)) { ops, pageSize, threshold in
      var order = ListingOrder(mergeThreshold: threshold)
      var present = Set<String>()
      let name = { (n: Int) in ["a\(n)", "B\(n)", "é\(n)", "a\(n)b", "\(n)"][n % 5] }
      for (step, op) in ops.enumerated() {
        let id = name(op)
        if step % 3 == 2, present.contains(id) {
          order.remove([id])
          present.remove(id)
        } else if !present.contains(id) {
          order.insert([id])
          present.insert(id)
        }
      }
      var listed: [String] = []
      var cursor: String?
      while true {
        let page = order.page(after: cursor, limit: pageSize) { _ in true }
        listed += page
        guard page.count == pageSize, let last = page.last else { break }
        cursor = last
      }
      #expect(listed == present.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) })
    }
  }

  @Test("the filtered HNSW walk itself (what the planner uses above its threshold): recall@10 >= 0.95 from 15% passing up")
  func hnswWalkRecall() {
    let count = 8000, dimension = 32
    var index = HNSWIndex(dimension: dimension)
    let vectors = (0..<count).map { FilterCases.vector($0, dimension: dimension, seed: 5) }
    index.add(ids: (0..<count).map { "d\($0)" }, vectors: Matrix(rows: count, columns: dimension, values: vectors.flatMap { $0 }))
    for share in [0.15, 0.3, 0.6, 1.0] {
      let passing = Set((0..<count).filter { ($0 * 7919) % 1000 < Int(share * 1000) }.map { "d\($0)" })
      let allowed = IDFilter(passing)
      var found = 0, possible = 0
      for q in 0..<40 {
        let query = FilterCases.vector(90_000 + q, dimension: dimension, seed: 5)
        var selections = [TopK(k: 10)]
        index.searchWalking(Matrix(rows: 1, columns: dimension, values: query), into: &selections, options: SearchOptions(), filter: allowed)
        let hits = selections[0].sorted().map(\.id)
        #expect(hits.allSatisfy(passing.contains))
        let exact = (0..<count).filter { passing.contains("d\($0)") }
          .map { ($0, zip(query, vectors[$0]).reduce(Float(0)) { $0 + $1.0 * $1.1 }) }.sorted { $0.1 > $1.1 }.prefix(10).map { "d\($0.0)" }
        found += Set(hits).intersection(exact).count
        possible += exact.count
      }
      let recall = Double(found) / Double(possible)
      #expect(recall >= 0.95, "share \(share): recall@10 \(recall)")
    }
  }
}
