import BCTCollection
import BCTIndex
import BCTNumerics
import BCTProto
import BCTServing

/// Searches: picks the query version by the version policy, embeds raw queries,
/// and ranks the searched copy of the index (never a shadow copy being filled).
public struct Searcher: Sendable {
  private let store: any CollectionStore
  private let encoder: any EncoderBackend
  private let limits: RetrievalLimits

  /// Searches of `store`, embedding raw queries through `encoder`.
  public init(store: any CollectionStore, encoder: any EncoderBackend, limits: RetrievalLimits) {
    self.store = store
    self.encoder = encoder
    self.limits = limits
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

  private func search(_ request: Bct_V1_SearchRequest, deadline: ContinuousClock.Instant?, decidedOn view: CollectionView) async throws -> Bct_V1_SearchResponse {
    let decidedOn = view.searched
    guard let query = request.query else {
      throw RetrievalError.invalidArgument(field: "query", message: "no query: set inputs (raw) or embeddings (with their model_version)")
    }
    let queries: Matrix
    let queryVersion: String
    let table: ModelTable
    switch query {
    case .embeddings(let batch):
      guard !batch.modelVersion.isEmpty else {
        throw RetrievalError.invalidArgument(field: "embeddings.model_version", message: "embeddings.model_version is empty; say which version made the query embeddings")
      }
      if !request.queryModelVersion.isEmpty && request.queryModelVersion != batch.modelVersion {
        throw RetrievalError.invalidArgument(field: "query_model_version", message: "query_model_version \(request.queryModelVersion) differs from embeddings.model_version \(batch.modelVersion)")
      }
      queryVersion = batch.modelVersion
      table = try await modelTable(needed: false, deadline: deadline)
      let dimension = table.versions[queryVersion]?.dimension ?? view.dimensions[queryVersion]
      guard let dimension else {
        throw RetrievalError.unknownQueryVersion(version: queryVersion, known: table.versions.keys.sorted())
      }
      try checkRows(batch.vectors.shape.first)
      try TensorCodec.checkPayload(bytes: TensorCodec.payloadBytes(batch.vectors), limit: limits.maxMessageBytes)
      queries = try TensorCodec.decodeBatch(batch.vectors, rowShape: [dimension], what: "embeddings.vectors")
    case .inputs(let tensor):
      table = try await modelTable(needed: true, deadline: deadline)
      if request.queryModelVersion.isEmpty {
        queryVersion = try VersionPolicy(table: table).defaultQueryVersion(documents: decidedOn)
      } else {
        guard table.versions[request.queryModelVersion] != nil else {
          throw RetrievalError.unknownVersion(field: "query_model_version", version: request.queryModelVersion, known: table.versions.keys.sorted())
        }
        queryVersion = request.queryModelVersion
      }
      try VersionPolicy(table: table).checkQuery(queryVersion, against: decidedOn, allowUncertified: request.allowUncertified)
      try checkRows(tensor.shape.first)
      try TensorCodec.checkPayload(bytes: TensorCodec.payloadBytes(tensor), limit: limits.maxMessageBytes)
      let shape = table.versions[queryVersion]!.inputShape
      let inputs = try TensorCodec.decodeBatch(tensor, rowShape: shape, what: "inputs")
      queries = try await encoder.embed(inputs, rowShape: shape, version: queryVersion, deadline: deadline)
    }
    let policy = VersionPolicy(table: table)
    let k = Int(request.k)
    // The decision and the ranking read the same state: a switch in between cannot mix copies.
    let tooLarge = { (hits: Int, bytes: Int) in
      RetrievalError.replyTooLarge(hits: hits, queries: queries.rows, k: k, bytes: bytes, limit: self.limits.maxReplyBytes)
    }
    let found: StoreHits
    do {
      found = try await store.search(
        queries, k: k,
        options: SearchOptions(efSearch: request.efSearch == 0 ? nil : Int(request.efSearch), maxReplyBytes: limits.maxReplyBytes)
      ) { view in
        try policy.checkQuery(queryVersion, against: view.searched, allowUncertified: request.allowUncertified)
        for version in view.searched where view.dimensions[version] != queries.columns {
          throw RetrievalError.queryDimensionMismatch(query: queryVersion, dimension: queries.columns, document: version, held: view.dimensions[version] ?? 0)
        }
      }
    } catch let error as ReplyTooLarge {
      throw tooLarge(error.hits, error.bytes)
    }
    let (present, hits, metadata) = (found.present, found.hits, found.metadata)
    let replyBytes = hits.joined().reduce(0) { $0 + $1.replyBytes(metadata: metadata[$1.scored.id]) }
    guard replyBytes <= limits.maxReplyBytes else { throw tooLarge(hits.joined().count, replyBytes) }
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

  private func checkRows(_ rows: Int64?) throws {
    if let rows, rows > Int64(limits.maxQueries) {
      throw RetrievalError.overLimit(field: "queries", message: "\(rows) queries in one Search, over the maximum of \(limits.maxQueries)")
    }
  }
}
