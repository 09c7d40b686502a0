import BCTTensor
import BCTCollection
import BCTIndex
import BCTNumerics
import BCTProto
import BCTServing

/// Searches: picks the query version by the version policy, embeds raw queries,
/// and ranks the searched copy of the index (never a shadow copy being filled).
public struct Searcher: Sendable {
  private let store: any CollectionStore
  private let encoder: any EmbeddingProvider
  private let limits: RetrievalLimits
  private let adaptation: QueryAdaptation

  /// Searches of `store`, embedding raw queries through `encoder`.
  public init(store: any CollectionStore, encoder: any EmbeddingProvider, limits: RetrievalLimits) {
    self.store = store
    self.encoder = encoder
    self.limits = limits
    self.adaptation = QueryAdaptation(encoder: encoder)
  }

  /// The model table, or the cached one when the encoder is down and the call can do without it.
  private func modelTable(needed: Bool, deadline: ContinuousClock.Instant?) async throws -> ModelTable {
    do {
      return try await encoder.models(deadline: deadline)
    } catch let error as EncoderError where !needed && error.isTransient {
      return encoder.cachedModels
    }
  }

  /// The results of `request`. When the query version is the default and the
  /// index switches versions while the queries are embedded, it decides again.
  public func search(_ request: Bct_V1_SearchRequest, deadline: ContinuousClock.Instant?) async throws -> Bct_V1_SearchResponse {
    guard request.k >= 1 && Int(request.k) <= limits.maxK else {
      throw RetrievalError.invalidArgument(field: "k", message: "k is \(request.k); it must be 1 to \(limits.maxK)")
    }
    guard request.efSearch <= RetrievalLimits.maxEfSearch else {
      throw RetrievalError.invalidArgument(field: "ef_search", message: "ef_search is \(request.efSearch); it must be 0 (the server's default) to \(RetrievalLimits.maxEfSearch)")
    }
    if request.hasFilter { _ = try MetadataFilter(wire: request.filter, field: "filter") }
    var attempt = 0
    while true {
      attempt += 1
      let decidedOn = try await store.view(ViewQuery())
      do {
        return try await search(request, deadline: deadline, decidedOn: decidedOn)
      } catch let error as RetrievalError where error.isPolicyRefusal && attempt < 3 && request.queryModelVersion.isEmpty {
        if try await store.view(ViewQuery()).searched != decidedOn.searched { continue }
        throw error
      }
    }
  }

  /// Query vectors with the version that made them, the version whose space they
  /// are in (the documents' when a query adapter mapped them), and the model table
  /// they were decided on.
  private struct Queries {
    var vectors: Matrix
    var version: String
    var table: ModelTable
    var space: String

    init(vectors: Matrix, version: String, table: ModelTable) {
      (self.vectors, self.version, self.table, self.space) = (vectors, version, table, version)
    }
  }

  private func search(_ request: Bct_V1_SearchRequest, deadline: ContinuousClock.Instant?, decidedOn view: CollectionView) async throws -> Bct_V1_SearchResponse {
    guard let query = request.query else {
      throw RetrievalError.invalidArgument(field: "query", message: "no query: set inputs (raw) or embeddings (with their model_version)")
    }
    var queries: Queries
    switch query {
    case .embeddings(let batch): queries = try await embeddingQueries(batch, request: request, view: view, deadline: deadline)
    case .inputs(let tensor): queries = try await rawQueries(tensor, request: request, view: view, deadline: deadline)
    }
    if let (old, sha) = VersionPolicy(table: queries.table).queryAdapter(queries.version, documents: view.searched) {
      queries.vectors = try await adaptation.map(queries.vectors, from: queries.version, to: old, fileSha256: sha, deadline: deadline)
      queries.space = old
    }
    let found = try await rank(queries, request: request)
    var response = Bct_V1_SearchResponse()
    response.queryModelVersion = queries.version
    response.querySpaceVersion = queries.space
    response.documentVersions = found.present
    response.results = found.hits.map { row in
      var result = Bct_V1_SearchResult()
      result.hits = row.map { hit in
        var out = Bct_V1_SearchHit()
        out.id = hit.scored.id
        out.score = hit.scored.score
        out.documentVersion = hit.version
        out.metadata = found.metadata[hit.scored.id] ?? [:]
        return out
      }
      return result
    }
    return response
  }

  /// Queries sent as embeddings: their version must be listed by the encoder or held by documents.
  private func embeddingQueries(
    _ batch: Bct_V1_EmbeddingBatch, request: Bct_V1_SearchRequest, view: CollectionView, deadline: ContinuousClock.Instant?
  ) async throws -> Queries {
    guard !batch.modelVersion.isEmpty else {
      throw RetrievalError.invalidArgument(field: "embeddings.model_version", message: "embeddings.model_version is empty; say which version made the query embeddings")
    }
    if !request.queryModelVersion.isEmpty && request.queryModelVersion != batch.modelVersion {
      throw RetrievalError.invalidArgument(field: "query_model_version", message: "query_model_version \(request.queryModelVersion) differs from embeddings.model_version \(batch.modelVersion)")
    }
    let table = try await modelTable(needed: false, deadline: deadline)
    guard let dimension = table.versions[batch.modelVersion]?.dimension ?? view.dimensions[batch.modelVersion] else {
      throw RetrievalError.unknownQueryVersion(version: batch.modelVersion, known: table.versions.keys.sorted())
    }
    try checkRows(batch.vectors.shape.first)
    try TensorCodec.checkPayload(bytes: TensorCodec.payloadBytes(batch.vectors), limit: limits.maxMessageBytes)
    let vectors = try TensorCodec.decodeBatch(batch.vectors, rowShape: [dimension], what: "embeddings.vectors")
    return Queries(vectors: vectors, version: batch.modelVersion, table: table)
  }

  /// Raw queries, embedded with the requested version or the policy's default for the versions searched.
  private func rawQueries(
    _ tensor: Bct_V1_Tensor, request: Bct_V1_SearchRequest, view: CollectionView, deadline: ContinuousClock.Instant?
  ) async throws -> Queries {
    let table = try await modelTable(needed: true, deadline: deadline)
    let policy = VersionPolicy(table: table)
    let version = request.queryModelVersion.isEmpty ? try policy.defaultQueryVersion(documents: view.searched) : request.queryModelVersion
    guard let info = table.versions[version] else {
      throw RetrievalError.unknownVersion(field: "query_model_version", version: version, known: table.versions.keys.sorted())
    }
    guard info.takesRawInputs else { throw RetrievalError.externalVersion(field: "inputs", version: version) }
    if policy.queryAdapter(version, documents: view.searched) == nil {
      try policy.checkQuery(version, against: view.searched, allowUncertified: request.allowUncertified)
    }
    try checkRows(tensor.shape.first)
    try TensorCodec.checkPayload(bytes: TensorCodec.payloadBytes(tensor), limit: limits.maxMessageBytes)
    let inputs = try TensorCodec.decodeRows(tensor, rowShape: info.inputShape, what: "inputs")
    let vectors = try await encoder.embed(inputs, rowShape: info.inputShape, version: version, deadline: deadline)
    return Queries(vectors: vectors, version: version, table: table)
  }

  /// The store's hits, checked against the policy on the very view the ranking reads
  /// (a switch in between cannot mix copies), within the reply size limit.
  private func rank(_ queries: Queries, request: Bct_V1_SearchRequest) async throws -> StoreHits {
    let policy = VersionPolicy(table: queries.table)
    let k = Int(request.k)
    let tooLarge = { (hits: Int, bytes: Int) in
      RetrievalError.replyTooLarge(hits: hits, queries: queries.vectors.rows, k: k, bytes: bytes, limit: self.limits.maxReplyBytes)
    }
    let found: StoreHits
    let filter = request.hasFilter ? try MetadataFilter(wire: request.filter, field: "filter") : nil
    do {
      found = try await store.search(
        queries.vectors, k: k,
        options: SearchOptions(efSearch: request.efSearch == 0 ? nil : Int(request.efSearch), maxReplyBytes: limits.maxReplyBytes),
        filter: filter
      ) { view in
        try policy.checkQuery(queries.space, against: view.searched, allowUncertified: request.allowUncertified)
        for version in view.searched where view.dimensions[version] != queries.vectors.columns {
          throw RetrievalError.queryDimensionMismatch(
            query: queries.space, dimension: queries.vectors.columns, document: version, held: view.dimensions[version] ?? 0)
        }
      }
    } catch let error as ReplyTooLarge {
      throw tooLarge(error.hits, error.bytes)
    }
    let replyBytes = found.hits.joined().reduce(0) { $0 + $1.replyBytes(metadata: found.metadata[$1.scored.id]) }
    guard replyBytes <= limits.maxReplyBytes else { throw tooLarge(found.hits.joined().count, replyBytes) }
    return found
  }

  private func checkRows(_ rows: Int64?) throws {
    if let rows, rows > Int64(limits.maxQueries) {
      throw RetrievalError.overLimit(field: "queries", message: "\(rows) queries in one Search, over the maximum of \(limits.maxQueries)")
    }
  }
}
