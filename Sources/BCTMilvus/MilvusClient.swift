import BCTTensor
import BCTClient
import BCTIndex
import BCTMilvusProto
import Foundation
import GRPCCore
import SwiftProtobuf
import Synchronization

/// A typed client of the Milvus calls bct's Milvus store makes.
///
/// Every call runs under `timeout` and is retried for up to `retryFor` (backoff from
/// 100 ms, at most 1 s apart) when the server cannot be reached or the deadline passes,
/// so a restarting server is waited for: every call here is idempotent (upserts and
/// deletes by primary key). Reads of a collection that a restarted server has not
/// loaded load it and run again. Milvus reports most errors in a `Status` inside the
/// reply, not as a gRPC status; both become `MilvusError`.
public struct MilvusClient: Sendable {
  private let stub: Milvus_Proto_Milvus_MilvusService.Client<ChannelTransport>
  /// The server's address, for messages.
  public let address: String
  /// Deadline of one attempt.
  public let timeout: Duration
  /// How long a call is retried while the server cannot be reached.
  public let retryFor: Duration
  /// What searches, fetches and counts wait for before they read.
  public let readConsistency: MilvusConsistency
  /// Largest reply (and request) message this client takes, in bytes.
  public let maxMessageBytes: Int
  /// The newest write this client made to each collection (Milvus's timestamps), for `.session` reads.
  private let lastWrite = WriteClock()

  /// Wraps `client`, a gRPC client to the Milvus at `address`.
  public init(
    _ client: GRPCClient<ChannelTransport>, address: String, timeout: Duration = .seconds(10), retryFor: Duration = .seconds(30),
    readConsistency: MilvusConsistency = .strong, maxMessageBytes: Int = 256 << 20
  ) {
    stub = Milvus_Proto_Milvus_MilvusService.Client(wrapping: client)
    self.address = address
    self.timeout = timeout
    self.retryFor = retryFor
    self.readConsistency = readConsistency
    self.maxMessageBytes = maxMessageBytes
  }

  // MARK: Server

  /// The server's version string, e.g. `v2.5.4` or `milvus_lite-3.2.2`.
  public func serverVersion() async throws -> String {
    try await call("GetVersion", status: \.status) { try await stub.getVersion(.init(), options: $0) }.version
  }

  /// Checks that the server runs an API version this client supports and returns it.
  ///
  /// - Throws: `MilvusError.unsupportedServer` naming the version otherwise.
  @discardableResult
  public func checkSupported() async throws -> String {
    let version = try await serverVersion()
    guard MilvusVersion.isSupported(version) else {
      throw MilvusError.unsupportedServer(
        address: address, detail: "server version \"\(version)\"; supported: \(MilvusVersion.supportedDescription)")
    }
    return version
  }

  // MARK: Collections

  /// Whether a collection of that name exists.
  public func hasCollection(_ name: String) async throws -> Bool {
    let request = Milvus_Proto_Milvus_HasCollectionRequest.with { $0.collectionName = name }
    return try await call("HasCollection", status: \.status) { try await stub.hasCollection(request, options: $0) }.value
  }

  /// Creates `collection` with its indexes unless it exists (then checks that its
  /// fields match, taking the raw-input encoding it was created with), loads it for
  /// search, and returns the layout it has.
  @discardableResult
  public func ensureCollection(_ collection: MilvusDocumentCollection) async throws -> MilvusDocumentCollection {
    var collection = collection
    if try await hasCollection(collection.name) {
      collection = try await checkLayout(collection)
    } else {
      try await createCollection(collection)
    }
    // Also for an existing collection: a creator stopped between CreateCollection and CreateIndex left it without.
    try await ensureIndexes(collection)
    try await load(collection.name)
    return collection
  }

  private func createCollection(_ collection: MilvusDocumentCollection) async throws {
    let schema = Milvus_Proto_Schema_CollectionSchema.with {
      $0.name = collection.name
      $0.description_p = "bct documents"
      $0.fields = collection.fieldSchemas
    }
    let request = try Milvus_Proto_Milvus_CreateCollectionRequest.with {
      $0.collectionName = collection.name
      $0.schema = try schema.serializedBytes()
      $0.consistencyLevel = .strong
    }
    do {
      try await call("CreateCollection", status: { $0 }) { try await stub.createCollection(request, options: $0) }
    } catch let error as MilvusError {
      // A retried create whose first attempt went through, or a replica that created it first.
      guard case .rejected = error, try await hasCollection(collection.name) else { throw error }
    }
  }

  /// Milvus's code for a CreateIndex on a field that has an index already.
  static let indexExists: Int32 = 35

  /// Creates the layout's indexes that the collection lacks.
  private func ensureIndexes(_ collection: MilvusDocumentCollection) async throws {
    var indexes = [
      (MilvusDocumentCollection.embeddingField,
       ["index_type": "HNSW", "metric_type": "IP", "params": "{\"M\":\(collection.m),\"efConstruction\":\(collection.efConstruction)}"]),
    ]
    if collection.inputEncoding == .vector {
      indexes.append((MilvusDocumentCollection.inputField, ["index_type": "FLAT", "metric_type": "L2"]))
    }
    for (field, params) in indexes where try await !hasIndex(collection.name, field: field) {
      let request = Milvus_Proto_Milvus_CreateIndexRequest.with {
        $0.collectionName = collection.name
        $0.fieldName = field
        $0.extraParams = params.sorted { $0.key < $1.key }.map { .pair($0.key, $0.value) }
      }
      do {
        try await call("CreateIndex", status: { $0 }) { try await stub.createIndex(request, options: $0) }
      } catch MilvusError.rejected(_, Self.indexExists, _) {
        // Another creator (a replica, or this call's retried first attempt) made it.
      }
    }
  }

  /// Whether `field` of the collection has an index (Milvus answers an unindexed field
  /// with an error status or an empty list, depending on the server).
  public func hasIndex(_ collection: String, field: String) async throws -> Bool {
    let request = Milvus_Proto_Milvus_DescribeIndexRequest.with {
      $0.collectionName = collection
      $0.fieldName = field
    }
    do {
      let reply = try await call("DescribeIndex", status: \.status) { try await stub.describeIndex(request, options: $0) }
      return reply.indexDescriptions.contains { $0.fieldName == field }
    } catch MilvusError.rejected {
      return false
    }
  }

  /// The existing collection's layout: `collection` with the raw-input encoding found.
  ///
  /// - Throws: `MilvusError.unsupportedServer` unless its fields and sizes are this layout's.
  private func checkLayout(_ collection: MilvusDocumentCollection) async throws -> MilvusDocumentCollection {
    let request = Milvus_Proto_Milvus_DescribeCollectionRequest.with { $0.collectionName = collection.name }
    let reply = try await call("DescribeCollection", status: \.status) { try await stub.describeCollection(request, options: $0) }
    // Name, type and dimension of each field; other type parameters (max_length) are not compared.
    func shape(_ field: Milvus_Proto_Schema_FieldSchema) -> String {
      "\(field.dataType)" + (field.typeParams.first { $0.key == "dim" }.map { " dim \($0.value)" } ?? "")
    }
    let found = Dictionary(reply.schema.fields.map { ($0.name, shape($0)) }) { first, _ in first }
    var existing = collection
    let input = reply.schema.fields.first { $0.name == MilvusDocumentCollection.inputField }
    existing.inputEncoding = input?.dataType == .floatVector ? .vector : .text
    for field in existing.fieldSchemas where found[field.name] != shape(field) {
      throw MilvusError.unsupportedServer(
        address: address,
        detail: "collection \(collection.name) exists with another layout (field \(field.name): expected \(shape(field)), found \(found[field.name] ?? "none"))")
    }
    return existing
  }

  /// The names of every collection on the server.
  public func collectionNames() async throws -> [String] {
    try await call("ShowCollections", status: \.status) { try await stub.showCollections(.init(), options: $0) }.collectionNames
  }

  /// Drops a collection and its data (no error if it does not exist).
  public func dropCollection(_ name: String) async throws {
    let request = Milvus_Proto_Milvus_DropCollectionRequest.with { $0.collectionName = name }
    try await call("DropCollection", status: { $0 }) { try await stub.dropCollection(request, options: $0) }
  }

  /// Loads a collection for search and waits (up to `wait`) until it is loaded.
  public func load(_ name: String, wait: Duration = .seconds(120)) async throws {
    let request = Milvus_Proto_Milvus_LoadCollectionRequest.with { $0.collectionName = name }
    try await call("LoadCollection", status: { $0 }) { try await stub.loadCollection(request, options: $0) }
    let stateRequest = Milvus_Proto_Milvus_GetLoadStateRequest.with { $0.collectionName = name }
    var state = Milvus_Proto_Common_LoadState.notExist
    try await poll(every: .milliseconds(50), for: wait) {
      state = try await call("GetLoadState", status: \.status) { try await stub.getLoadState(stateRequest, options: $0) }.state
      return state == .loaded ? () : nil
    } timedOut: {
      "collection \(name) not loaded after \(wait) (state \(state))"
    }
  }

  /// Waits (up to `wait`) until the embedding index covers every flushed row; returns
  /// the rows indexed. Milvus builds indexes in the background after a flush, and
  /// searches rows without one by brute force until then.
  @discardableResult
  public func waitForIndex(_ collection: String, wait: Duration = .seconds(600)) async throws -> Int {
    let request = Milvus_Proto_Milvus_DescribeIndexRequest.with {
      $0.collectionName = collection
      $0.fieldName = MilvusDocumentCollection.embeddingField
    }
    var (indexed, total) = (Int64(0), Int64(0))
    return try await poll(every: .milliseconds(100), for: wait) {
      let reply = try await call("DescribeIndex", status: \.status) { try await stub.describeIndex(request, options: $0) }
      guard let index = reply.indexDescriptions.first(where: { $0.fieldName == MilvusDocumentCollection.embeddingField }) else {
        throw MilvusError.malformedReply(call: "DescribeIndex", detail: "no index on \(MilvusDocumentCollection.embeddingField)")
      }
      if index.state == .failed {
        throw MilvusError.rejected(call: "DescribeIndex", code: 0, reason: "index build failed: \(index.indexStateFailReason)")
      }
      (indexed, total) = (index.indexedRows, index.totalRows)
      let done = index.state == .finished && index.pendingIndexRows == 0 && index.indexedRows >= index.totalRows
      return done ? Int(index.indexedRows) : nil
    } timedOut: {
      "index of \(collection) covers \(indexed) of \(total) rows after \(wait)"
    }
  }

  /// Seals the collections' growing segments to disk (rows search fast only after it).
  public func flush(_ names: [String]) async throws {
    let request = Milvus_Proto_Milvus_FlushRequest.with { $0.collectionNames = names }
    _ = try await call("Flush", status: \.status) { try await stub.flush(request, options: $0) }
  }

  // MARK: Documents

  /// Inserts `documents`, replacing those whose ids exist; returns how many were written.
  @discardableResult
  public func upsert(_ collection: MilvusDocumentCollection, _ documents: [MilvusDocument]) async throws -> Int {
    guard !documents.isEmpty else { return 0 }
    for document in documents {
      precondition(
        document.embedding.count == collection.dimension && (!document.hasInput || document.input.count == collection.inputSize)
          && document.mark.utf8.count <= MilvusDocumentCollection.maxMarkLength,
        "a document's sizes differ from its collection's (the store checks requests first)")
    }
    let request = Milvus_Proto_Milvus_UpsertRequest.with {
      $0.collectionName = collection.name
      $0.numRows = UInt32(documents.count)
      $0.fieldsData = [
        .strings(MilvusDocumentCollection.idField, documents.map(\.id)),
        .vectors(MilvusDocumentCollection.embeddingField, dimension: collection.dimension, documents.flatMap(\.embedding)),
        .json(MilvusDocumentCollection.metadataField, documents.map(\.metadata)),
        .bools(MilvusDocumentCollection.hasInputField, documents.map(\.hasInput)),
        .strings(MilvusDocumentCollection.markField, documents.map(\.mark)),
        collection.inputColumn(documents),
      ]
    }
    let reply = try await call("Upsert", status: \.status) { try await stub.upsert(request, options: $0) }
    lastWrite.advance(collection.name, to: reply.timestamp)
    return Int(reply.upsertCnt)
  }

  /// Deletes the documents with these ids (absent ids are ignored).
  public func delete(_ collection: String, ids: [String]) async throws {
    for chunk in Self.chunks(ids) {
      let request = Milvus_Proto_Milvus_DeleteRequest.with {
        $0.collectionName = collection
        $0.expr = Self.idsExpression(chunk)
        $0.consistencyLevel = .strong
      }
      let reply = try await call("Delete", status: \.status) { try await stub.delete(request, options: $0) }
      lastWrite.advance(collection, to: reply.timestamp)
    }
  }

  /// The stored documents with these ids, in no particular order (absent ids are
  /// skipped); without `vectors`, their embedding and input come back empty.
  public func fetch(_ collection: MilvusDocumentCollection, ids: [String], vectors: Bool = true) async throws -> [MilvusDocument] {
    let scalars = [MilvusDocumentCollection.idField, MilvusDocumentCollection.metadataField,
                   MilvusDocumentCollection.hasInputField, MilvusDocumentCollection.markField]
    var documents: [MilvusDocument] = []
    for chunk in Self.chunks(ids) {
      let columns = try await query(
        collection.name, Self.idsExpression(chunk), outputFields: vectors ? collection.fieldSchemas.map(\.name) : scalars)
      let found = try columns.strings(MilvusDocumentCollection.idField)
      let metadata = try columns.json(MilvusDocumentCollection.metadataField, rows: found.count)
      let hasInput = try columns.bools(MilvusDocumentCollection.hasInputField, rows: found.count)
      let marks = try columns.strings(MilvusDocumentCollection.markField)
      guard marks.count == found.count else { throw MilvusError.malformedReply(call: "Query", detail: "\(marks.count) marks for \(found.count) rows") }
      var embeddings = [[Float]](repeating: [], count: found.count)
      var inputs = embeddings
      if vectors {
        embeddings = try columns.vectors(MilvusDocumentCollection.embeddingField, dimension: collection.dimension, rows: found.count)
        inputs = try collection.inputs(in: columns, rows: found.count)
      }
      documents += found.indices.map {
        MilvusDocument(
          id: found[$0], embedding: embeddings[$0], metadata: metadata[$0], hasInput: hasInput[$0], mark: marks[$0], input: inputs[$0])
      }
    }
    return documents
  }

  /// Documents in a collection (those matching `filter`, a Milvus boolean expression, if given), counted by the server.
  public func count(_ collection: String, filter: String? = nil) async throws -> Int {
    let columns = try await query(collection, filter ?? "", outputFields: ["count(*)"])
    return try columns.count("count(*)")
  }

  /// Most ids Milvus returns from one query with a limit.
  public static let maxQueryLimit = 16_384

  /// Up to `limit` (at most `maxQueryLimit`) ids of documents matching `filter`, in no particular order.
  public func ids(_ collection: String, filter: String, limit: Int) async throws -> [String] {
    let columns = try await query(
      collection, filter, outputFields: [MilvusDocumentCollection.idField], limit: min(max(limit, 1), Self.maxQueryLimit))
    return try columns.strings(MilvusDocumentCollection.idField)
  }

  /// The first `limit` (at most `maxQueryLimit`) ids matching `filter` (all with an
  /// empty one) in increasing order (bytes of UTF-8): Milvus returns the smallest
  /// primary keys of a query with a limit, as its query iterator relies on.
  public func firstIDs(_ collection: String, filter: String, limit: Int) async throws -> [String] {
    let columns = try await query(
      collection, filter, outputFields: [MilvusDocumentCollection.idField], limit: min(max(limit, 1), Self.maxQueryLimit))
    return try columns.strings(MilvusDocumentCollection.idField).sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
  }

  /// Most hits per query Milvus returns (its `topk` limit).
  public static let maxTopK = 16_384
  /// Queries per Search call (Milvus takes at most 16,384; smaller calls keep replies small).
  static let queriesPerSearch = 1024

  /// The `k` documents of largest inner product with each query, best first.
  ///
  /// `ef` is HNSW's search beam (raised to `k` where smaller).
  ///
  /// - Throws: `MilvusError.limitExceeded` for `k` over `maxTopK`.
  public func search(
    _ collection: MilvusDocumentCollection, queries: [[Float]], k: Int, ef: Int? = nil, filter: String? = nil
  ) async throws -> [[ScoredID]] {
    guard k <= Self.maxTopK else {
      throw MilvusError.limitExceeded(call: "Search", detail: "k = \(k); Milvus returns at most \(Self.maxTopK) hits per query")
    }
    var hits: [[ScoredID]] = []
    for start in stride(from: 0, to: queries.count, by: Self.queriesPerSearch) {
      hits += try await searchOnce(
        collection, queries: Array(queries[start..<min(start + Self.queriesPerSearch, queries.count)]), k: k, ef: ef, filter: filter)
    }
    return hits
  }

  private func searchOnce(
    _ collection: MilvusDocumentCollection, queries: [[Float]], k: Int, ef: Int?, filter: String?
  ) async throws -> [[ScoredID]] {
    precondition(k > 0 && queries.allSatisfy { $0.count == collection.dimension }, "the store checks queries first")
    let placeholders = Milvus_Proto_Common_PlaceholderGroup.with {
      $0.placeholders = [.with {
        $0.tag = "$0"
        $0.type = .floatVector
        $0.values = queries.map(TensorCodec.littleEndianBytes)
      }]
    }
    let request = try Milvus_Proto_Milvus_SearchRequest.with {
      $0.collectionName = collection.name
      $0.dslType = .boolExprV1
      if let filter { $0.dsl = filter }
      $0.placeholderGroup = try placeholders.serializedBytes()
      $0.nq = Int64(queries.count)
      // Only the ids (milvus-lite returns every field, raw inputs included, when none are named).
      $0.outputFields = [MilvusDocumentCollection.idField]
      $0.searchParams = [
        .pair("anns_field", MilvusDocumentCollection.embeddingField),
        .pair("topk", "\(k)"),
        .pair("metric_type", "IP"),
        .pair("params", "{\"ef\":\(max(k, ef ?? max(k, 64)))}"),
        .pair("round_decimal", "-1"),
      ]
      let (level, guarantee) = readLevel(collection.name)
      $0.consistencyLevel = level
      $0.guaranteeTimestamp = guarantee
    }
    let reply = try await loadingIfReleased(collection.name) {
      try await call("Search", status: \.status) { try await stub.search(request, options: $0) }
    }
    let results = reply.results
    guard case .strID(let ids) = results.ids.idField ?? .strID(.init()) else {
      throw MilvusError.malformedReply(call: "Search", detail: "ids are not strings")
    }
    let counts = results.topks.map { Int($0) }
    guard counts.count == queries.count, counts.reduce(0, +) == ids.data.count, ids.data.count == results.scores.count else {
      throw MilvusError.malformedReply(
        call: "Search", detail: "\(counts.count) result lists for \(queries.count) queries, \(ids.data.count) ids, \(results.scores.count) scores")
    }
    var hits: [[ScoredID]] = []
    var start = 0
    for count in counts {
      hits.append((start..<(start + count)).map { ScoredID(id: ids.data[$0], score: results.scores[$0]) })
      start += count
    }
    return hits
  }

  // MARK: Calls

  /// Ids per expression, so no expression grows past what a server parses.
  static let idsPerExpression = 256

  static func chunks(_ ids: [String]) -> [ArraySlice<String>] {
    stride(from: 0, to: ids.count, by: idsPerExpression).map { ids[$0..<min($0 + idsPerExpression, ids.count)] }
  }

  /// `id in ["a", "b"]` with every id a quoted, escaped string literal (milvus-lite does
  /// not take expression templates, so ids are quoted rather than passed as values).
  static func idsExpression(_ ids: ArraySlice<String>) -> String {
    "\(MilvusDocumentCollection.idField) in [" + ids.map(quoted).joined(separator: ",") + "]"
  }

  /// `text` as a double-quoted expression literal: backslash and quote escaped, so no
  /// id can end the literal early; newline, return and tab as their escapes. Milvus's
  /// parser knows no numeric escapes (\u, \x, octal) and takes other control
  /// characters as they are.
  public static func quoted(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\\": out += "\\\\"
      case "\"": out += "\\\""
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }

  /// Runs one call with deadline and retries, and turns a Milvus error status into `MilvusError`.
  @discardableResult
  private func call<Reply: Sendable>(
    _ name: String, status: (Reply) -> Milvus_Proto_Common_Status,
    _ body: (CallOptions) async throws -> Reply
  ) async throws -> Reply {
    let options = callOptions(timeout: timeout, maxResponseBytes: maxMessageBytes)
    var backoff = RetryBackoff(for: retryFor)
    while true {
      do {
        let reply = try await body(options)
        let outcome = status(reply)
        switch Self.classify(outcome) {
        case .success:
          return reply
        case .transient:
          // A server still starting (or recovering its components) answers with a status: wait as for an unreachable one.
          try await backoff.wait(orThrow: MilvusError.unreachable(address: address, detail: "\(name): not ready: \(outcome.reason)"))
        case .quota:
          throw MilvusError.limitExceeded(call: name, detail: "\(outcome.errorCode): \(outcome.reason)")
        case .refused:
          throw MilvusError.rejected(call: name, code: outcome.code != 0 ? outcome.code : Int32(outcome.errorCode.rawValue), reason: outcome.reason)
        }
      } catch let error as RPCError {
        switch error.code {
        case .unavailable, .deadlineExceeded:
          try await backoff.wait(orThrow: MilvusError.unreachable(address: address, detail: "\(name): \(error.message)"))
        case .unimplemented:
          throw MilvusError.unsupportedServer(address: address, detail: "it does not implement \(name)")
        case .resourceExhausted:
          throw MilvusError.limitExceeded(call: name, detail: error.message)
        case .internalError where error.message.contains("maximum payload size"):
          throw MilvusError.limitExceeded(
            call: name, detail: "a message is larger than this client's limit of \(maxMessageBytes) bytes (\(error.message))")
        default:
          throw MilvusError.rejected(call: name, code: Int32(-error.code.rawValue), reason: "\(error.code): \(error.message)")
        }
      }
    }
  }

  /// What an in-reply status means for the call.
  enum Outcome: Equatable {
    case success
    /// The server cannot serve yet (starting, a component reconnecting, rate limited): retry.
    case transient
    /// A quota of the server (memory, disk, a deny switch).
    case quota
    /// Any other refusal.
    case refused
  }

  /// Milvus's codes for a server that is not ready or unavailable (its `merr` codes 1 and 2).
  static let notReadyCodes: Set<Int32> = [1, 2]

  static func classify(_ status: Milvus_Proto_Common_Status) -> Outcome {
    if status.code == 0 && status.errorCode == .success { return .success }
    switch status.errorCode {
    case .notReadyServe, .notReadyCoordActivating, .rateLimit, .timeTickLongDelay: return .transient
    case .memoryQuotaExhausted, .diskQuotaExhausted, .forceDeny: return .quota
    default: break
    }
    if notReadyCodes.contains(status.code) { return .transient }
    // A restarted server's proxy can answer before it reaches its coordinators again (seen on 2.3.5, code 65535).
    let reason = status.reason.lowercased()
    let reconnecting = ["empty grpc client", "not ready", "not healthy", "connection refused"]
    return reconnecting.contains { reason.contains($0) } ? .transient : .refused
  }

  /// Runs `check` every `interval` until it returns a value, for up to `wait`.
  ///
  /// - Throws: `MilvusError.unreachable` with `timedOut()` when the wait ends first.
  private func poll<Value>(
    every interval: Duration, for wait: Duration, _ check: () async throws -> Value?, timedOut: () -> String
  ) async throws -> Value {
    let deadline = ContinuousClock.now + wait
    while true {
      if let value = try await check() { return value }
      guard ContinuousClock.now < deadline else { throw MilvusError.unreachable(address: address, detail: timedOut()) }
      try await Task.sleep(for: interval)
    }
  }

  /// One Query of `collection` (rows matching `expression`, at most `limit`) at the read
  /// consistency, loading the collection if a restarted server released it.
  private func query(
    _ collection: String, _ expression: String, outputFields: [String], limit: Int? = nil
  ) async throws -> MilvusColumns {
    let request = Milvus_Proto_Milvus_QueryRequest.with {
      $0.collectionName = collection
      $0.expr = expression
      $0.outputFields = outputFields
      if let limit { $0.queryParams = [.pair("limit", "\(limit)")] }
      let (level, guarantee) = readLevel(collection)
      $0.consistencyLevel = level
      $0.guaranteeTimestamp = guarantee
    }
    let reply = try await loadingIfReleased(collection) {
      try await call("Query", status: \.status) { try await stub.query(request, options: $0) }
    }
    return try MilvusColumns(reply.fieldsData, call: "Query")
  }

  /// The consistency level and guarantee timestamp of a read of `collection`. A
  /// `.session` read waits only for this client's newest write to that collection;
  /// before its first one, and after a write whose timestamp Milvus did not give (a
  /// Delete), it is strong (writes made before this client existed are then visible too).
  private func readLevel(_ collection: String) -> (Milvus_Proto_Common_ConsistencyLevel, UInt64) {
    guard readConsistency == .session else { return (readConsistency.level, 0) }
    let last = lastWrite.newest(collection)
    return last == 0 || last == WriteClock.unknown ? (.strong, 0) : (.session, last)
  }

  /// Milvus's code for a read of a collection that is not loaded (after a server restart).
  static let collectionNotLoaded: Int32 = 101

  /// Runs `read`; if the server has not loaded `collection` (it restarted), loads it and
  /// runs `read` again, up to `attempts` loads. A just-restarted milvus-lite can report a
  /// collection loaded and still refuse the next read as released, so later attempts
  /// also wait a little.
  private func loadingIfReleased<Result>(
    _ collection: String, attempts: Int = 5, _ read: () async throws -> Result
  ) async throws -> Result {
    var loads = 0
    while true {
      do {
        return try await read()
      } catch MilvusError.rejected(_, Self.collectionNotLoaded, _) where loads < attempts {
        if loads > 0 { try await Task.sleep(for: .milliseconds(250 * loads)) }
        loads += 1
        try await load(collection)
      }
    }
  }
}

/// Waits between attempts: from 100 ms, doubling to at most 1 s, while the budget lasts.
struct RetryBackoff {
  private let giveUp: ContinuousClock.Instant
  private var delay = Duration.milliseconds(100)

  init(for budget: Duration) { giveUp = .now + budget }

  /// Sleeps before the next attempt, or throws `error` when the budget would pass.
  mutating func wait(orThrow error: @autoclosure () -> MilvusError) async throws {
    guard ContinuousClock.now + delay < giveUp else { throw error() }
    try await Task.sleep(for: delay)
    delay = min(delay * 2, .seconds(1))
  }
}

/// The newest write timestamp a client saw acknowledged, per collection.
///
/// Milvus 2.3.5 answers Delete with timestamp 0 (seen even when rows were deleted), so
/// a write without a timestamp marks its collection `unknown`: reads of it are strong
/// until a timestamped write follows (that one is later than the delete, so its
/// timestamp covers both). The store writes one batch at a time, so writes of one
/// collection do not overlap.
final class WriteClock: Sendable {
  /// A collection's newest write has no known timestamp.
  static let unknown = UInt64.max
  private let timestamps = Mutex<[String: UInt64]>([:])

  /// The newest write to `collection`: 0 for none yet, `unknown` for one without a timestamp.
  func newest(_ collection: String) -> UInt64 { timestamps.withLock { $0[collection] ?? 0 } }

  func advance(_ collection: String, to timestamp: UInt64) {
    timestamps.withLock { clock in
      let held = clock[collection] ?? 0
      if timestamp == 0 {
        clock[collection] = Self.unknown
      } else {
        clock[collection] = held == Self.unknown ? timestamp : max(held, timestamp)
      }
    }
  }
}

/// What a read waits for (Milvus's consistency levels).
public enum MilvusConsistency: String, Sendable, CaseIterable {
  /// Every write acknowledged before the read started is visible: the read waits for the
  /// server's next time tick (`proxy.timeTickInterval`, 200 ms by default) on the real server.
  case strong
  /// This client's own acknowledged writes to the collection read, and every write to
  /// it acknowledged before its first one, are visible: a read waits only right after a
  /// write of its own to that collection. Where one process makes every write (bct's
  /// one-writer rule), as strong as `strong`.
  case session
  /// Writes older than the server's staleness bound (seconds) are visible.
  case bounded
  /// No wait: whatever the queried nodes hold.
  case eventually

  var level: Milvus_Proto_Common_ConsistencyLevel {
    switch self {
    case .strong: .strong
    case .session: .session
    case .bounded: .bounded
    case .eventually: .eventually
    }
  }
}

/// Which Milvus servers this client supports: Milvus 2.3 and later (string primary keys,
/// JSON fields, upsert; tested on 2.3.5) and milvus-lite 3 and later.
public enum MilvusVersion {
  /// In words, for error messages.
  public static let supportedDescription = "Milvus >= 2.3, milvus-lite >= 3.0"

  /// Whether `version` (as GetVersion reports it) is supported.
  public static func isSupported(_ version: String) -> Bool {
    if version.hasPrefix("milvus_lite-") {
      return (numbers(version.dropFirst("milvus_lite-".count)).first ?? 0) >= 3
    }
    let parts = numbers(version.hasPrefix("v") ? version.dropFirst() : Substring(version))
    guard parts.count >= 2 else { return false }
    return parts[0] > 2 || (parts[0] == 2 && parts[1] >= 3)
  }

  private static func numbers(_ text: Substring) -> [Int] {
    let core = text.prefix { $0.isNumber || $0 == "." }
    return core.split(separator: ".").compactMap { Int($0) }
  }
}

extension MilvusDocumentCollection {
  /// The collection's fields as Milvus schema: the one description that creating,
  /// checking and reading a collection all use.
  var fieldSchemas: [Milvus_Proto_Schema_FieldSchema] {
    [
      .with {
        $0.name = Self.idField
        $0.isPrimaryKey = true
        $0.dataType = .varChar
        $0.typeParams = [.pair("max_length", "\(Self.maxIDLength)")]
      },
      .with {
        $0.name = Self.embeddingField
        $0.dataType = .floatVector
        $0.typeParams = [.pair("dim", "\(dimension)")]
      },
      .with {
        $0.name = Self.metadataField
        $0.dataType = .json
      },
      .with {
        $0.name = Self.hasInputField
        $0.dataType = .bool
      },
      .with {
        $0.name = Self.markField
        $0.dataType = .varChar
        $0.typeParams = [.pair("max_length", "\(Self.maxMarkLength)")]
      },
      inputFieldSchema,
    ]
  }

  private var inputFieldSchema: Milvus_Proto_Schema_FieldSchema {
    switch inputEncoding {
    case .text:
      .with {
        $0.name = Self.inputField
        $0.dataType = .varChar
        $0.typeParams = [.pair("max_length", "\(Self.maxTextBytes)")]
      }
    case .vector:
      .with {
        $0.name = Self.inputField
        $0.dataType = .floatVector
        $0.typeParams = [.pair("dim", "\(inputSize)")]
      }
    }
  }

  /// The documents' raw inputs as this layout's column (a document without one, zeros
  /// or an empty text).
  func inputColumn(_ documents: [MilvusDocument]) -> Milvus_Proto_Schema_FieldData {
    switch inputEncoding {
    case .text:
      .strings(Self.inputField, documents.map { $0.hasInput ? TensorCodec.littleEndianBytes($0.input).base64EncodedString() : "" })
    case .vector:
      .vectors(Self.inputField, dimension: inputSize, documents.flatMap {
        $0.hasInput ? $0.input : [Float](repeating: 0, count: inputSize)
      })
    }
  }

  /// The raw inputs of a reply's `rows` rows (empty text: no input).
  func inputs(in columns: MilvusColumns, rows: Int) throws -> [[Float]] {
    switch inputEncoding {
    case .vector:
      return try columns.vectors(Self.inputField, dimension: inputSize, rows: rows)
    case .text:
      let texts = try columns.strings(Self.inputField)
      guard texts.count == rows else { throw MilvusError.malformedReply(call: "Query", detail: "\(texts.count) inputs for \(rows) rows") }
      return try texts.map { text in
        guard !text.isEmpty else { return [] }
        guard let bytes = Data(base64Encoded: text), bytes.count == inputSize * 4 else {
          throw MilvusError.malformedReply(call: "Query", detail: "a raw input of \(name) is not \(inputSize) base64 float32 values")
        }
        return TensorCodec.littleEndianFloats(bytes)
      }
    }
  }
}

extension Milvus_Proto_Common_KeyValuePair {
  static func pair(_ key: String, _ value: String) -> Self {
    .with {
      $0.key = key
      $0.value = value
    }
  }
}
