import BCTClient
import BCTCollection
import BCTData
import BCTProto
import BCTRetrieval
import BCTTensor
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// Filtered search, Get and List through the real `bct-encoder` and `bct-retrieval`
/// processes, on both stores, checked against the reference semantics
/// (`MetadataFilter.matches`) applied to an unfiltered ranking of every document.
@Suite("Filters, Get and List through the real services", .serialized)
struct SearchAPIProcessTests {
  static let count = 300
  /// Keys Milvus and JSON must escape, and values of every kind a range meets.
  static let oddKey = "we\"ird\\key [x]"

  static func metadata(_ i: Int) -> [String: String] {
    var out = ["label": "\(RetrievalProcessTests.test.labels[i])", "bucket": "b\(i % 10)", "price": "\(Double(i) / 4)"]
    if i % 3 == 0 { out[oddKey] = "a\"b\\c \(i % 2)" }
    if i % 7 == 0 { out["price"] = "n/a" }
    if i % 11 == 0 { out["é"] = "ü" }
    return out
  }

  static func upsert(_ range: Range<Int>) -> Bct_V1_UpsertRequest {
    var request = RetrievalProcessTests.upsertRequest(range, version: "v1")
    for (n, i) in range.enumerated() { request.documents[n].metadata = metadata(i) }
    return request
  }

  static let filters: [MetadataFilter] = [
    .equals(key: "label", value: "3"),
    .range(key: "price", lower: .init(10, inclusive: true), upper: .init(40, inclusive: false)),
    .oneOf(key: "bucket", values: ["b1", "b4", "b7"]),
    .not(.hasKey(oddKey)),
    .equals(key: oddKey, value: "a\"b\\c 1"),
    .all([.hasKey("é"), .range(key: "price", lower: nil, upper: .init(50, inclusive: true))]),
    .any([.equals(key: "label", value: "0"), .not(.range(key: "price", lower: .init(-1e9, inclusive: true), upper: nil))]),
    .equals(key: "label", value: "no such label"),
  ]

  @Test("filtered search equals the unfiltered ranking filtered by the reference; Get and List read back what was stored, on both stores", arguments: StoreKind.allCases)
  func filtersGetAndList(store: StoreKind) async throws {
    try await store.with { storeArguments in
      let encoder = try await Fixtures.startEncoder(try await RetrievalProcessTests.repository())
      let retrieval = try await Fixtures.startRetrieval(
        encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-data"), extra: storeArguments)
      defer { Task { await retrieval.kill9(); await encoder.kill9() } }
      try await RetrievalProcessTests.withClients(retrieval.port, { client, _ in
        for start in stride(from: 0, to: Self.count, by: 100) { _ = try await client.upsert(Self.upsert(start..<(start + 100))) }
        try await Self.checkFilteredSearch(client)
        try await Self.checkGet(client)
        try await Self.checkList(client)
        try await Self.checkRefusals(client)
      }, encoderPort: encoder.port)
      if store == .memory { try await Self.checkCLI(port: retrieval.port) }
      await retrieval.kill9()
      await encoder.kill9()
    }
  }

  static func checkFilteredSearch(_ client: RetrievalClient) async throws {
    let queries = 0..<5
    let all = try await client.search(RetrievalProcessTests.rawSearch(queries, k: count, version: "v1"))
    for filter in filters {
      var request = RetrievalProcessTests.rawSearch(queries, k: 10, version: "v1")
      request.filter = Bct_V1_Filter(filter)
      let filtered = try await client.search(request)
      for q in queries {
        let expected = all.results[q].hits.filter { filter.matches($0.metadata) }.prefix(10).map(\.id)
        let got = filtered.results[q].hits.map(\.id)
        #expect(got == Array(expected), "\(filter), query \(q)")
        #expect(filtered.results[q].hits.allSatisfy { filter.matches($0.metadata) })
      }
    }
  }

  static func checkGet(_ client: RetrievalClient) async throws {
    var request = Bct_V1_GetRequest()
    request.ids = ["test-7", "missing-1", "test-3", "missing-2"]
    request.includeEmbedding = true
    request.includeInput = true
    let response = try await client.get(request)
    #expect(response.documents.map(\.id) == ["test-7", "test-3"] && response.missing == ["missing-1", "missing-2"])
    for record in response.documents {
      let i = Int(record.id.dropFirst(5))!
      #expect(record.metadata == metadata(i) && record.modelVersion == "v1" && record.inputStored)
      #expect(record.input.shape == [1, 28, 28])
      #expect(try TensorCodec.values(of: record.input, what: "input") == Array(RetrievalProcessTests.test.inputs.values[(i * 784)..<((i + 1) * 784)]))
      let embedding = try TensorCodec.values(of: record.embedding, what: "embedding")
      #expect(record.embedding.shape == [128] && abs(embedding.reduce(0) { $0 + $1 * $1 } - 1) < 1e-3)
    }
    request.includeEmbedding = false
    request.includeInput = false
    let bare = try await client.get(request)
    #expect(bare.documents.allSatisfy { !$0.hasEmbedding && !$0.hasInput && $0.inputStored })
  }

  /// Every page of a listing; a document written between pages shows if its id sorts after the cursor.
  static func checkList(_ client: RetrievalClient) async throws {
    let ids = (0..<count).map { "test-\($0)" }
    let bytewise = { (a: String, b: String) in a.utf8.lexicographicallyPrecedes(b.utf8) }
    for filter in [nil] + filters {
      var request = Bct_V1_ListRequest()
      request.pageSize = 37
      if let filter { request.filter = Bct_V1_Filter(filter) }
      var listed: [String] = []
      repeat {
        let page = try await client.list(request)
        #expect(page.documents.count <= 37)
        #expect(page.documents.allSatisfy { !$0.hasEmbedding && $0.modelVersion == "v1" })
        listed += page.documents.map(\.id)
        request.pageToken = page.nextPageToken
      } while !request.pageToken.isEmpty
      let expected = ids.filter { filter?.matches(metadata(Int($0.dropFirst(5))!)) ?? true }.sorted(by: bytewise)
      #expect(listed == expected, "\(String(describing: filter))")
    }
    var request = Bct_V1_ListRequest()
    request.pageSize = 50
    let first = try await client.list(request)
    _ = try await client.upsert(upsert(count..<(count + 1)))
    var early = upsert(0..<1)
    early.documents[0].id = "a-first"
    _ = try await client.upsert(early)
    request.pageToken = first.nextPageToken
    var rest: [String] = []
    repeat {
      let page = try await client.list(request)
      rest += page.documents.map(\.id)
      request.pageToken = page.nextPageToken
    } while !request.pageToken.isEmpty
    #expect(rest.contains("test-\(count)") && !rest.contains("a-first"))
    #expect(Set(first.documents.map(\.id)).isDisjoint(with: rest) && first.documents.count + rest.count == count + 1)
  }

  static func checkRefusals(_ client: RetrievalClient) async throws {
    var list = Bct_V1_ListRequest()
    list.pageToken = "not a token!"
    #expect(await Fixtures.rpcError { try await client.list(list) }?.code == .invalidArgument)
    list = Bct_V1_ListRequest()
    list.pageSize = 100_000
    #expect(await Fixtures.rpcError { try await client.list(list) }?.code == .resourceExhausted)
    list = Bct_V1_ListRequest()
    list.filter = Bct_V1_Filter()
    let empty = await Fixtures.rpcError { try await client.list(list) }
    #expect(empty?.code == .invalidArgument && empty?.message.contains("sets no clause") == true)
    var search = RetrievalProcessTests.rawSearch(0..<1, k: 3, version: "v1")
    search.filter.range = .with { $0.key = "price" }
    #expect(await Fixtures.rpcError { try await client.search(search) }?.code == .invalidArgument)
    var get = Bct_V1_GetRequest()
    #expect(await Fixtures.rpcError { try await client.get(get) }?.code == .invalidArgument)
    get.ids = ["test-1", "test-1"]
    #expect(await Fixtures.rpcError { try await client.get(get) }?.code == .invalidArgument)
  }

  /// `bct list --where`, `bct get` and `bct export` as a user runs them.
  static func checkCLI(port: Int) async throws {
    let env = ["BCT_RETRIEVAL": "127.0.0.1:\(port)"]
    let listed = try await Fixtures.command(["list", "--where", "label=3", "--where", "price>=10", "--all", "--json"], environment: env)
    try #require(listed.status == 0, "\(listed)")
    let json = try JSONSerialization.jsonObject(with: Data(listed.output.utf8)) as? [String: Any]
    let ids = (json?["documents"] as? [[String: Any]] ?? []).compactMap { $0["id"] as? String }
    let filter = MetadataFilter.all([.equals(key: "label", value: "3"), .range(key: "price", lower: .init(10, inclusive: true), upper: nil)])
    let expected = (0...count).map { "test-\($0)" }.filter { filter.matches(metadata(Int($0.dropFirst(5))!)) }
    #expect(ids == expected.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } && !ids.isEmpty, "\(listed.output)")
    let got = try await Fixtures.command(["get", "test-5", "nope"], environment: env)
    #expect(got.status == 0 && got.output.contains("test-5") && got.output.contains("missing: nope"), "\(got)")
    let bad = try await Fixtures.command(["list", "--where", "price>=ten"], environment: env)
    #expect(bad.status != 0 && bad.error.contains("not a finite number"), "\(bad)")
    let out = Fixtures.temporaryFolder("bct-export").appendingPathComponent("docs.npy")
    let exported = try await Fixtures.command(["export", "--out", out.path, "--where", "bucket=b3"], environment: env)
    try #require(exported.status == 0, "\(exported)")
    let array = try ArrayFile.read(path: out.path)
    let lines = try String(contentsOfFile: out.deletingPathExtension().path + ".jsonl", encoding: .utf8).split(separator: "\n")
    #expect(array.shape == [lines.count, 128] && lines.count == 30, "\(array.shape) \(lines.count)")
  }
}
