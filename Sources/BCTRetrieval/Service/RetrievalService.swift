import BCTCollection
import BCTProto
import BCTServing
import GRPCCore

/// `bct.v1.Retrieval`: each handler reads the request's deadline, calls one
/// domain function (`DocumentIntake`, `Searcher`, `Backfiller`, `CollectionReport`)
/// and records the call's metrics; domain errors become gRPC statuses in
/// `ErrorStatus`, inside the measurement so that metrics count their codes.
public struct RetrievalService: Bct_V1_Retrieval.ServiceProtocol {
  private let store: any CollectionStore
  private let encoder: any EmbeddingProvider
  private let intake: DocumentIntake
  private let searcher: Searcher
  private let reader: DocumentReader
  private let backfiller: Backfiller
  private let limits: RetrievalLimits
  private let metrics: ServiceMetrics
  private let readOnly: Bool

  /// The service; a `readOnly` replica searches and reports but refuses writes and backfills.
  public init(
    store: any CollectionStore, encoder: any EmbeddingProvider, backfiller: Backfiller, limits: RetrievalLimits,
    metrics: ServiceMetrics, readOnly: Bool = false
  ) {
    self.readOnly = readOnly
    self.store = store
    self.encoder = encoder
    self.intake = DocumentIntake(store: store, encoder: encoder, limits: limits)
    self.searcher = Searcher(store: store, encoder: encoder, limits: limits)
    self.reader = DocumentReader(store: store, limits: limits)
    self.backfiller = backfiller
    self.limits = limits
    self.metrics = metrics
  }

  public func upsert(
    request: ServerRequest<Bct_V1_UpsertRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_UpsertResponse> {
    let deadline = CallDeadline.from(request.metadata)
    return ServerResponse(message: try await metrics.measure(method: "Upsert", version: label(request.message.modelVersion)) {
      try await ErrorStatus.mapping {
        try checkWritable("Upsert")
        return try await intake.upsert(request.message, deadline: deadline)
      }
    })
  }

  public func delete(
    request: ServerRequest<Bct_V1_DeleteRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_DeleteResponse> {
    ServerResponse(message: try await metrics.measure(method: "Delete", version: "") {
      try await ErrorStatus.mapping {
        try checkWritable("Delete")
        return try await store.delete(request.message, limits: limits)
      }
    })
  }

  public func search(
    request: ServerRequest<Bct_V1_SearchRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_SearchResponse> {
    let deadline = CallDeadline.from(request.metadata)
    return ServerResponse(message: try await metrics.measure(method: "Search", version: label(request.message.queryModelVersion)) {
      try await ErrorStatus.mapping { try await searcher.search(request.message, deadline: deadline) }
    })
  }

  public func backfill(
    request: ServerRequest<Bct_V1_BackfillRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Bct_V1_BackfillProgress> {
    let deadline = CallDeadline.from(request.metadata)
    let message = request.message
    let follow = try await metrics.measure(method: "Backfill", version: label(message.targetVersion)) {
      try await ErrorStatus.mapping {
        try checkWritable("Backfill")
        return try await backfiller.handle(message, encoder: encoder, deadline: deadline)
      }
    }
    return StreamingServerResponse { writer in
      var last: Bct_V1_BackfillProgress?
      while true {
        let progress = try await ErrorStatus.mapping { try await backfiller.progress() }
        if progress != last {
          try await writer.write(progress)
          last = progress
        }
        if !follow || progress.state != .running { break }
        try await Task.sleep(for: .milliseconds(200))
      }
      return [:]
    }
  }

  private func checkWritable(_ method: String) throws {
    guard !readOnly else {
      throw RetrievalError.readOnly(method: method)
    }
  }

  /// A metrics label for a client-supplied version: the version if the encoder
  /// lists it, "unknown" otherwise, so clients cannot create series at will.
  private func label(_ version: String) -> String {
    version.isEmpty || encoder.cachedModels.versions[version] != nil ? version : "unknown"
  }

  public func stats(
    request: ServerRequest<Bct_V1_StatsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_StatsResponse> {
    ServerResponse(message: try await metrics.measure(method: "Stats", version: "") {
      try await ErrorStatus.mapping {
        try await CollectionReport.stats(store: store, table: encoder.cachedModels, backfill: try await backfiller.progress())
      }
    })
  }

  public func get(
    request: ServerRequest<Bct_V1_GetRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_GetResponse> {
    ServerResponse(message: try await metrics.measure(method: "Get", version: "") {
      try await ErrorStatus.mapping { try await reader.get(request.message) }
    })
  }

  public func list(
    request: ServerRequest<Bct_V1_ListRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_ListResponse> {
    ServerResponse(message: try await metrics.measure(method: "List", version: "") {
      try await ErrorStatus.mapping { try await reader.list(request.message) }
    })
  }
}
