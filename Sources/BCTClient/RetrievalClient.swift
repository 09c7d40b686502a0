import BCTProto
import GRPCCore

/// A typed client of `bct.v1.Retrieval`.
public struct RetrievalClient: Sendable {
  private let stub: Bct_V1_Retrieval.Client<ChannelTransport>
  /// The collection requests go to when they name none ("" is the server's default collection).
  public let collection: String

  /// A client over a running gRPC client, of `collection` ("": the default one).
  public init(_ client: GRPCClient<ChannelTransport>, collection: String = "") {
    stub = Bct_V1_Retrieval.Client(wrapping: client)
    self.collection = collection
  }

  private init(stub: Bct_V1_Retrieval.Client<ChannelTransport>, collection: String) {
    self.stub = stub
    self.collection = collection
  }

  /// A client of `collection` over the same connection.
  public func addressing(_ collection: String) -> RetrievalClient {
    RetrievalClient(stub: stub, collection: collection)
  }

  /// Inserts or replaces documents.
  public func upsert(_ request: Bct_V1_UpsertRequest, timeout: Duration? = .seconds(60)) async throws -> Bct_V1_UpsertResponse {
    try await stub.upsert(addressed(request), options: callOptions(timeout: timeout))
  }

  /// Removes documents.
  public func delete(_ request: Bct_V1_DeleteRequest, timeout: Duration? = .seconds(30)) async throws -> Bct_V1_DeleteResponse {
    try await stub.delete(addressed(request), options: callOptions(timeout: timeout))
  }

  /// The nearest documents for each query.
  public func search(_ request: Bct_V1_SearchRequest, timeout: Duration? = .seconds(30)) async throws -> Bct_V1_SearchResponse {
    try await stub.search(addressed(request), options: callOptions(timeout: timeout))
  }

  /// Documents by id.
  public func get(_ request: Bct_V1_GetRequest, timeout: Duration? = .seconds(30)) async throws -> Bct_V1_GetResponse {
    try await stub.get(addressed(request), options: callOptions(timeout: timeout))
  }

  /// One page of documents in id order.
  public func list(_ request: Bct_V1_ListRequest, timeout: Duration? = .seconds(60)) async throws -> Bct_V1_ListResponse {
    try await stub.list(addressed(request), options: callOptions(timeout: timeout))
  }

  /// Index statistics.
  public func stats(timeout: Duration? = .seconds(10)) async throws -> Bct_V1_StatsResponse {
    try await stub.stats(.with { $0.collection = collection }, options: callOptions(timeout: timeout))
  }

  /// Starts, joins or stops a backfill and calls `onProgress` for each progress
  /// message until the server ends the stream; returns the last one.
  @discardableResult
  public func backfill(
    _ request: Bct_V1_BackfillRequest, timeout: Duration? = nil,
    onProgress: @escaping @Sendable (Bct_V1_BackfillProgress) async throws -> Void = { _ in }
  ) async throws -> Bct_V1_BackfillProgress? {
    try await stub.backfill(addressed(request), options: callOptions(timeout: timeout)) { response in
      var last: Bct_V1_BackfillProgress?
      for try await progress in response.messages {
        last = progress
        try await onProgress(progress)
      }
      return last
    }
  }

  /// Creates a named collection; `index` unset takes the server's defaults.
  public func createCollection(
    _ name: String, index: Bct_V1_IndexSettings? = nil, timeout: Duration? = .seconds(60)
  ) async throws -> Bct_V1_CollectionInfo {
    let request = Bct_V1_CreateCollectionRequest.with {
      $0.name = name
      if let index { $0.index = index }
    }
    return try await stub.createCollection(request, options: callOptions(timeout: timeout)).collection
  }

  /// Drops a named collection; returns how many documents it held.
  @discardableResult
  public func dropCollection(_ name: String, timeout: Duration? = .seconds(60)) async throws -> UInt64 {
    try await stub.dropCollection(.with { $0.name = name }, options: callOptions(timeout: timeout)).documents
  }

  /// Every collection, the default first.
  public func listCollections(timeout: Duration? = .seconds(30)) async throws -> [Bct_V1_CollectionInfo] {
    try await stub.listCollections(Bct_V1_ListCollectionsRequest(), options: callOptions(timeout: timeout)).collections
  }

  /// `request` sent to this client's collection unless it names one.
  private func addressed<Request: CollectionAddressed>(_ request: Request) -> Request {
    guard request.collection.isEmpty else { return request }
    var copy = request
    copy.collection = collection
    return copy
  }
}

/// A request that names the collection it goes to.
protocol CollectionAddressed {
  var collection: String { get set }
}

extension Bct_V1_UpsertRequest: CollectionAddressed {}
extension Bct_V1_DeleteRequest: CollectionAddressed {}
extension Bct_V1_SearchRequest: CollectionAddressed {}
extension Bct_V1_GetRequest: CollectionAddressed {}
extension Bct_V1_ListRequest: CollectionAddressed {}
extension Bct_V1_BackfillRequest: CollectionAddressed {}
