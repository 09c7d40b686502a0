import BCTCollection
import BCTIndex
import BCTProto
import BCTServing
import GRPCCore

/// `bct.v1.Retrieval`: each handler reads the request's deadline, resolves the
/// request's collection in the `CollectionRegistry`, calls one domain function of
/// it (`DocumentIntake`, `Searcher`, `DocumentReader`, `Backfiller`,
/// `CollectionReport`) and records the call's metrics; domain errors become gRPC
/// statuses in `ErrorStatus`, inside the measurement so that metrics count their codes.
public struct RetrievalService: Bct_V1_Retrieval.ServiceProtocol {
  private let registry: CollectionRegistry
  private let encoder: any EmbeddingProvider
  private let limits: RetrievalLimits
  private let metrics: ServiceMetrics
  private let readOnly: Bool

  /// The service over `registry`'s collections; a `readOnly` replica searches and
  /// reports but refuses writes, backfills, creates and drops.
  public init(
    registry: CollectionRegistry, encoder: any EmbeddingProvider, limits: RetrievalLimits, metrics: ServiceMetrics, readOnly: Bool = false
  ) {
    self.registry = registry
    self.encoder = encoder
    self.limits = limits
    self.metrics = metrics
    self.readOnly = readOnly
  }

  public func upsert(
    request: ServerRequest<Bct_V1_UpsertRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_UpsertResponse> {
    let deadline = CallDeadline.from(request.metadata)
    let message = request.message
    return ServerResponse(message: try await measure("Upsert", message.collection, version: message.modelVersion) {
      try checkWritable("Upsert")
      return try await registry.within(message.collection) { try await $0.intake.upsert(message, deadline: deadline) }
    })
  }

  public func delete(
    request: ServerRequest<Bct_V1_DeleteRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_DeleteResponse> {
    ServerResponse(message: try await measure("Delete", request.message.collection) {
      try checkWritable("Delete")
      return try await registry.within(request.message.collection) { try await $0.store.delete(request.message, limits: limits) }
    })
  }

  public func search(
    request: ServerRequest<Bct_V1_SearchRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_SearchResponse> {
    let deadline = CallDeadline.from(request.metadata)
    let message = request.message
    return ServerResponse(message: try await measure("Search", message.collection, version: message.queryModelVersion) {
      try await registry.within(message.collection) { try await $0.searcher.search(message, deadline: deadline) }
    })
  }

  public func backfill(
    request: ServerRequest<Bct_V1_BackfillRequest>, context: ServerContext
  ) async throws -> StreamingServerResponse<Bct_V1_BackfillProgress> {
    let deadline = CallDeadline.from(request.metadata)
    let message = request.message
    let (backfiller, follow): (Backfiller, Bool) = try await measure("Backfill", message.collection, version: message.targetVersion) {
      try checkWritable("Backfill")
      return try await registry.within(message.collection) { collection -> (Backfiller, Bool) in
        let follow = try await collection.backfiller.handle(message, encoder: encoder, deadline: deadline)
        return (collection.backfiller, follow)
      }
    }
    return StreamingServerResponse { writer in
      var last: Bct_V1_BackfillProgress?
      while true {
        let seen = backfiller.changeCount
        let progress = try await ErrorStatus.mapping { try await backfiller.progress() }
        if progress != last {
          try await writer.write(progress)
          last = progress
        }
        if !follow || progress.state != .running { break }
        // Counts every 200 ms; the end (or any change of state) at once.
        await backfiller.waitForChange(after: seen, upTo: .milliseconds(200))
        try Task.checkCancellation()
      }
      return [:]
    }
  }

  public func stats(
    request: ServerRequest<Bct_V1_StatsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_StatsResponse> {
    ServerResponse(message: try await measure("Stats", request.message.collection) {
      try await registry.within(request.message.collection) { collection in
        var stats = try await CollectionReport.stats(
          store: collection.store, table: encoder.cachedModels, backfill: try await collection.backfiller.progress())
        stats.collection = collection.descriptor.name
        return stats
      }
    })
  }

  public func get(
    request: ServerRequest<Bct_V1_GetRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_GetResponse> {
    ServerResponse(message: try await measure("Get", request.message.collection) {
      try await registry.within(request.message.collection) { try await $0.reader.get(request.message) }
    })
  }

  public func list(
    request: ServerRequest<Bct_V1_ListRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_ListResponse> {
    ServerResponse(message: try await measure("List", request.message.collection) {
      try await registry.within(request.message.collection) { try await $0.reader.list(request.message) }
    })
  }

  public func createCollection(
    request: ServerRequest<Bct_V1_CreateCollectionRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_CreateCollectionResponse> {
    let message = request.message
    return ServerResponse(message: try await measure("CreateCollection", nil) {
      try checkWritable("CreateCollection")
      let defaults = registry.defaultIndex
      let index = message.hasIndex ? try message.index.indexKind(defaults: defaults) : nil
      let collection = try await registry.create(name: message.name, index: index)
      return .with { $0.collection = Bct_V1_CollectionInfo(name: collection.descriptor.name, index: collection.descriptor.index) }
    })
  }

  public func dropCollection(
    request: ServerRequest<Bct_V1_DropCollectionRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_DropCollectionResponse> {
    ServerResponse(message: try await measure("DropCollection", nil) {
      try checkWritable("DropCollection")
      let documents = try await registry.drop(name: request.message.name)
      return .with { $0.documents = UInt64(documents) }
    })
  }

  public func listCollections(
    request: ServerRequest<Bct_V1_ListCollectionsRequest>, context: ServerContext
  ) async throws -> ServerResponse<Bct_V1_ListCollectionsResponse> {
    ServerResponse(message: try await measure("ListCollections", nil) {
      var response = Bct_V1_ListCollectionsResponse()
      for collection in registry.collections {
        do {
          response.collections.append(try await .describing(collection))
        } catch where !registry.isHosted(collection) {
          continue  // dropped while listed
        }
      }
      return response
    })
  }

  /// Runs `body` as the RPC `method` on `collection` (nil for the collection RPCs,
  /// labelled ""), with its domain errors as statuses, and records it under the
  /// collection's and the version's labels.
  private func measure<Result>(
    _ method: String, _ collection: String?, version: String = "", _ body: () async throws -> Result
  ) async throws -> Result {
    let collectionLabel = collection.map(registry.label) ?? ""
    return try await metrics.measure(method: method, version: label(version), labels: [("collection", collectionLabel)]) {
      try await ErrorStatus.mapping(body)
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
}

extension Bct_V1_CollectionInfo {
  /// A new collection's description: its name and index, nothing stored yet.
  init(name: String, index: IndexKind) {
    self.init()
    self.name = name
    self.index = Bct_V1_IndexSettings(index)
  }
}
