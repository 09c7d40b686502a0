import BCTIndex
import BCTNumerics
import BCTProto
import BCTServing
import Foundation
import GRPCCore
import Logging

/// `bct.v1.Retrieval`: upsert, delete, search across compatible versions, backfill
/// and stats over a `DocumentStore`, embedding raw inputs through the encoder.
public struct RetrievalService: Bct_V1_Retrieval.ServiceProtocol {
  private let store: DocumentStore
  private let encoder: EncoderGateway
  private let backfiller: Backfiller
  private let limits: RetrievalLimits
  private let metrics: ServiceMetrics
  private let logger: Logger

  /// The service.
  public init(
    store: DocumentStore, encoder: EncoderGateway, backfiller: Backfiller, limits: RetrievalLimits,
    metrics: ServiceMetrics, logger: Logger
  ) {
    self.store = store
    self.encoder = encoder
    self.backfiller = backfiller
    self.limits = limits
    self.metrics = metrics
    self.logger = logger
  }

  // MARK: Upsert

  public func upsert(
    request: ServerRequest<Bct_V1_UpsertRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_UpsertResponse> {
    let deadline = CallDeadline.from(request.metadata)
    let message = request.message
    return ServerResponse(message: try await metrics.measure(method: "Upsert", version: message.modelVersion) {
      try await upsert(message, deadline: deadline)
    })
  }

  func upsert(_ request: Bct_V1_UpsertRequest, deadline: ContinuousClock.Instant?) async throws -> Bct_V1_UpsertResponse {
    let docs = request.documents
    guard !docs.isEmpty else { throw RPCError(code: .invalidArgument, message: "documents: empty; send 1 to \(limits.maxUpsert)") }
    guard docs.count <= limits.maxUpsert else {
      throw RPCError(code: .resourceExhausted, message: "\(docs.count) documents in one Upsert, over the maximum of \(limits.maxUpsert); split the batch")
    }
    let payload = docs.reduce(0) { $0 + TensorCodec.payloadBytes($1.input) + $1.embedding.values.count * 4 }
    try TensorCodec.checkPayload(bytes: payload, limit: limits.maxMessageBytes)
    var seen = Set<String>()
    for (i, doc) in docs.enumerated() {
      try validateID(doc.id, at: "documents[\(i)].id")
      guard seen.insert(doc.id).inserted else {
        throw RPCError(code: .invalidArgument, message: "documents[\(i)].id \"\(doc.id)\" appears twice in the request; ids must be unique")
      }
      let metadataBytes = doc.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
      guard metadataBytes <= limits.maxMetadataBytes else {
        throw RPCError(code: .invalidArgument, message: "documents[\(i)].metadata holds \(metadataBytes) bytes, over the maximum of \(limits.maxMetadataBytes)")
      }
      guard doc.hasInput || doc.hasEmbedding else {
        throw RPCError(code: .invalidArgument, message: "documents[\(i)] (\(doc.id)) carries neither input nor embedding; send one")
      }
    }
    let needsEncoder = docs.contains { !$0.hasEmbedding }
    let table = try await modelTable(needed: true, deadline: deadline)
    let (currentVersion, present) = store.read { ($0.documentVersion, $0.index.versions) }
    let rawVersion = request.modelVersion.isEmpty ? (currentVersion ?? table.defaultVersion) : request.modelVersion
    if needsEncoder {
      guard table.versions[rawVersion] != nil else {
        throw RPCError(code: .notFound, message: "model version \"\(rawVersion)\" is not hosted by the encoder; known: \(table.versions.keys.sorted().joined(separator: ", "))")
      }
      try checkCompatible(rawVersion, with: present, table: table, role: "document version")
    }
    var stored: [StoredDocument] = []
    stored.reserveCapacity(docs.count)
    var toEmbed: [Int] = []
    for (i, doc) in docs.enumerated() {
      var input: [Float] = []
      var inputShape: [Int] = []
      if doc.hasInput {
        let shape = table.versions[doc.hasEmbedding ? doc.embedding.modelVersion : rawVersion]?.inputShape
          ?? doc.input.shape.map(Int.init)
        var tensor = doc.input
        if tensor.shape.count == shape.count { tensor.shape = [1] + tensor.shape }
        input = try TensorCodec.decodeBatch(tensor, rowShape: shape, what: "documents[\(i)].input").values
        inputShape = shape
      }
      if doc.hasEmbedding {
        let version = doc.embedding.modelVersion
        guard !version.isEmpty else {
          throw RPCError(code: .invalidArgument, message: "documents[\(i)].embedding.model_version is empty; say which version made it")
        }
        guard let info = table.versions[version] else {
          throw RPCError(code: .notFound, message: "documents[\(i)].embedding.model_version \"\(version)\" is unknown to the encoder; known: \(table.versions.keys.sorted().joined(separator: ", "))")
        }
        try checkCompatible(version, with: present + stored.map(\.version), table: table, role: "document version")
        var tensor = Bct_V1_Tensor()
        tensor.shape = [1, Int64(doc.embedding.values.count)]
        tensor.values = doc.embedding.values
        guard doc.embedding.values.count == info.dimension else {
          throw RPCError(code: .invalidArgument, message: "documents[\(i)].embedding has \(doc.embedding.values.count) values; \(version) embeds in \(info.dimension)")
        }
        let vector = try TensorCodec.decodeBatch(tensor, rowShape: [info.dimension], what: "documents[\(i)].embedding").values
        stored.append(StoredDocument(id: doc.id, metadata: doc.metadata, inputShape: inputShape, input: input, version: version, vector: vector))
      } else {
        toEmbed.append(i)
        stored.append(StoredDocument(id: doc.id, metadata: doc.metadata, inputShape: inputShape, input: input, version: rawVersion, vector: []))
      }
    }
    if !toEmbed.isEmpty {
      let width = stored[toEmbed[0]].input.count
      for chunk in stride(from: 0, to: toEmbed.count, by: limits.embedBatch) {
        let rows = Array(toEmbed[chunk..<min(toEmbed.count, chunk + limits.embedBatch)])
        let inputs = Matrix(rows: rows.count, columns: width, values: rows.flatMap { stored[$0].input })
        let vectors = try await encoder.embed(inputs, rowShape: stored[rows[0]].inputShape, version: rawVersion, deadline: deadline)
        for (r, i) in rows.enumerated() {
          stored[i].vector = Array(vectors.values[(r * vectors.columns)..<((r + 1) * vectors.columns)])
        }
      }
    }
    let replaced = store.read { state in stored.filter { state.documents[$0.id] != nil }.count }
    if needsEncoder && currentVersion == nil { try store.commit(.setDocumentVersion(rawVersion)) }
    let sequence = try store.commit(.upsert(stored))
    var response = Bct_V1_UpsertResponse()
    response.inserted = UInt32(stored.count - replaced)
    response.replaced = UInt32(replaced)
    response.modelVersion = needsEncoder ? rawVersion : ""
    response.sequence = sequence
    return response
  }

  // MARK: Delete

  public func delete(
    request: ServerRequest<Bct_V1_DeleteRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_DeleteResponse> {
    let message = request.message
    return ServerResponse(message: try await metrics.measure(method: "Delete", version: "") {
      guard !message.ids.isEmpty else { throw RPCError(code: .invalidArgument, message: "ids: empty; name at least one document") }
      guard message.ids.count <= limits.maxUpsert else {
        throw RPCError(code: .resourceExhausted, message: "\(message.ids.count) ids in one Delete, over the maximum of \(limits.maxUpsert)")
      }
      for (i, id) in message.ids.enumerated() { try validateID(id, at: "ids[\(i)]") }
      let unique = Array(NSOrderedSet(array: message.ids)) as! [String]
      let missing = store.read { state in unique.filter { state.documents[$0] == nil } }
      if !missing.isEmpty && !message.allowMissing {
        throw RPCError(code: .notFound, message: "no document with id \(missing.prefix(10).map { "\"\($0)\"" }.joined(separator: ", "))\(missing.count > 10 ? " and \(missing.count - 10) more" : ""); nothing was deleted (set allow_missing to skip them)")
      }
      let present = unique.filter { !missing.contains($0) }
      var response = Bct_V1_DeleteResponse()
      response.missing = missing
      response.deleted = UInt32(present.count)
      response.sequence = present.isEmpty ? store.sequence : try store.commit(.delete(present))
      return response
    })
  }

  // MARK: Search

  public func search(
    request: ServerRequest<Bct_V1_SearchRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_SearchResponse> {
    let deadline = CallDeadline.from(request.metadata)
    let message = request.message
    return ServerResponse(message: try await metrics.measure(method: "Search", version: message.queryModelVersion) {
      try await search(message, deadline: deadline)
    })
  }

  func search(_ request: Bct_V1_SearchRequest, deadline: ContinuousClock.Instant?) async throws -> Bct_V1_SearchResponse {
    guard request.k >= 1 && Int(request.k) <= limits.maxK else {
      throw RPCError(code: .invalidArgument, message: "k is \(request.k); it must be 1 to \(limits.maxK)")
    }
    guard let query = request.query else {
      throw RPCError(code: .invalidArgument, message: "no query: set inputs (raw) or embeddings (with their model_version)")
    }
    let present = store.read { $0.index.versions }
    let queries: Matrix
    let queryVersion: String
    switch query {
    case .embeddings(let batch):
      guard !batch.modelVersion.isEmpty else {
        throw RPCError(code: .invalidArgument, message: "embeddings.model_version is empty; say which version made the query embeddings")
      }
      if !request.queryModelVersion.isEmpty && request.queryModelVersion != batch.modelVersion {
        throw RPCError(code: .invalidArgument, message: "query_model_version \(request.queryModelVersion) differs from embeddings.model_version \(batch.modelVersion)")
      }
      queryVersion = batch.modelVersion
      let table = try await modelTable(needed: false, deadline: deadline)
      guard table.versions[queryVersion] != nil || present.contains(queryVersion) else {
        throw RPCError(code: .notFound, message: "query version \(queryVersion) is unknown: the encoder does not list it and no document has it; known: \(table.versions.keys.sorted().joined(separator: ", "))")
      }
      let dimension = table.versions[queryVersion]?.dimension ?? store.read { $0.index.dimension(of: queryVersion) }
      guard let dimension else {
        throw RPCError(code: .notFound, message: "query version \(queryVersion) is unknown (the encoder does not list it and no document has it)")
      }
      try checkRows(batch.vectors.shape.first)
      try TensorCodec.checkPayload(bytes: TensorCodec.payloadBytes(batch.vectors), limit: limits.maxMessageBytes)
      queries = try TensorCodec.decodeBatch(batch.vectors, rowShape: [dimension], what: "embeddings.vectors")
      try checkCompatible(queryVersion, with: present, table: table, role: "query version")
    case .inputs(let tensor):
      let table = try await modelTable(needed: true, deadline: deadline)
      if request.queryModelVersion.isEmpty {
        queryVersion = try defaultQueryVersion(table: table, present: present)
      } else {
        guard table.versions[request.queryModelVersion] != nil else {
          throw RPCError(code: .notFound, message: "query_model_version \"\(request.queryModelVersion)\" is not hosted by the encoder; known: \(table.versions.keys.sorted().joined(separator: ", "))")
        }
        queryVersion = request.queryModelVersion
      }
      try checkCompatible(queryVersion, with: present, table: table, role: "query version")
      try checkRows(tensor.shape.first)
      try TensorCodec.checkPayload(bytes: TensorCodec.payloadBytes(tensor), limit: limits.maxMessageBytes)
      let shape = table.versions[queryVersion]!.inputShape
      let inputs = try TensorCodec.decodeBatch(tensor, rowShape: shape, what: "inputs")
      queries = try await encoder.embed(inputs, rowShape: shape, version: queryVersion, deadline: deadline)
    }
    let k = Int(request.k)
    let (hits, metadata) = store.read { state -> ([[VersionedIndex.Hit]], [String: [String: String]]) in
      let hits = state.index.search(queries, k: k, versions: present)
      var metadata: [String: [String: String]] = [:]
      for hit in hits.joined() { metadata[hit.scored.id] = state.documents[hit.scored.id]?.metadata ?? [:] }
      return (hits, metadata)
    }
    var response = Bct_V1_SearchResponse()
    response.queryModelVersion = queryVersion
    response.documentVersions = present
    response.results = hits.map { row in
      var result = Bct_V1_SearchResult()
      result.hits = row.map { hit in
        var out = Bct_V1_SearchHit()
        out.id = hit.scored.id
        out.score = hit.scored.score
        out.documentVersion = hit.version
        out.metadata = metadata[hit.scored.id] ?? [:]
        return out
      }
      return result
    }
    return response
  }

  // MARK: Backfill and stats

  public func backfill(
    request: ServerRequest<Bct_V1_BackfillRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Bct_V1_BackfillProgress> {
    let message = request.message
    let deadline = CallDeadline.from(request.metadata)
    try await metrics.measure(method: "Backfill", version: message.targetVersion) {
      if message.stop {
        try backfiller.stop()
      } else {
        let table = try await modelTable(needed: true, deadline: deadline)
        try backfiller.start(target: message.targetVersion, batchSize: Int(message.batchSize), rate: message.maxDocumentsPerSecond, table: table)
      }
    }
    return StreamingServerResponse { writer in
      var last: Bct_V1_BackfillProgress?
      while true {
        let progress = backfiller.progress()
        if progress != last {
          try await writer.write(progress)
          last = progress
        }
        if progress.state != .running { break }
        try await Task.sleep(for: .milliseconds(200))
      }
      return [:]
    }
  }

  public func stats(
    request: ServerRequest<Bct_V1_StatsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_StatsResponse> {
    ServerResponse(message: try await metrics.measure(method: "Stats", version: "") {
      let table = encoder.cachedModels
      var response = store.read { state in
        var response = Bct_V1_StatsResponse()
        response.documents = UInt64(state.documents.count)
        response.versions = state.index.countsByVersion.sorted { $0.key < $1.key }.map { version, count in
          var stats = Bct_V1_VersionStats()
          stats.modelVersion = version
          stats.documents = UInt64(count)
          stats.embeddingDim = Int32(state.index.dimension(of: version) ?? 0)
          return stats
        }
        response.indexKind = "flat-ip (exact inner product, OpenBLAS)"
        response.documentVersion = state.documentVersion ?? ""
        response.embeddingBytes = UInt64(state.index.vectorBytes)
        response.rawInputBytes = UInt64(state.rawInputBytes)
        response.metadataBytes = UInt64(state.metadataBytes + state.documents.keys.reduce(0) { $0 + $1.utf8.count })
        return response
      }
      response.sequence = store.sequence
      response.defaultQueryVersion = (try? defaultQueryVersion(table: table, present: store.read { $0.index.versions })) ?? ""
      response.backfill = backfiller.progress()
      return response
    })
  }

  // MARK: Helpers

  private func modelTable(needed: Bool, deadline: ContinuousClock.Instant?) async throws -> ModelTable {
    do {
      return try await encoder.models(deadline: deadline)
    } catch let error as RPCError where !needed && error.code == .unavailable {
      return encoder.cachedModels
    }
  }

  /// The newest version (encoder order) compatible with every version present;
  /// the encoder's default when it qualifies or nothing is indexed.
  func defaultQueryVersion(table: ModelTable, present: [String]) throws -> String {
    if present.isEmpty || present.allSatisfy({ table.compatible(table.defaultVersion, $0) }) {
      guard !table.defaultVersion.isEmpty else { throw RPCError(code: .unavailable, message: "the encoder has no default version") }
      return table.defaultVersion
    }
    let candidates = table.versions.values.filter { info in present.allSatisfy { table.compatible(info.version, $0) } }
    guard let newest = candidates.max(by: { $0.order < $1.order }) else {
      throw RPCError(code: .failedPrecondition, message: "no version hosted by the encoder is compatible with every document version in the index (\(present.joined(separator: ", "))); backfill the index to one lineage")
    }
    return newest.version
  }

  private func checkCompatible(_ version: String, with present: [String], table: ModelTable, role: String) throws {
    for other in Set(present) where !table.compatible(version, other) {
      let lineage = { (v: String) in table.versions[v].map { String($0.lineage.prefix(12)) } ?? "unknown" }
      throw RPCError(code: .failedPrecondition, message: "\(role) \(version) (lineage \(lineage(version))) is not compatible with document version \(other) (lineage \(lineage(other))) in the index; their embeddings cannot be compared — use a version of lineage \(lineage(other)) or backfill first")
    }
  }

  private func checkRows(_ rows: Int64?) throws {
    if let rows, rows > Int64(limits.maxQueries) {
      throw RPCError(code: .resourceExhausted, message: "\(rows) queries in one Search, over the maximum of \(limits.maxQueries)")
    }
  }

  private func validateID(_ id: String, at field: String) throws {
    guard !id.isEmpty else { throw RPCError(code: .invalidArgument, message: "\(field) is empty; ids are 1-\(limits.maxIDBytes) bytes") }
    guard id.utf8.count <= limits.maxIDBytes else {
      throw RPCError(code: .invalidArgument, message: "\(field) is \(id.utf8.count) bytes, over the maximum of \(limits.maxIDBytes)")
    }
  }
}
