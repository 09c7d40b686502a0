import BCTProto
import GRPCCore

/// A typed client of `bct.v1.Retrieval`.
public struct RetrievalClient: Sendable {
  private let stub: Bct_V1_Retrieval.Client<ChannelTransport>

  /// A client over a running gRPC client.
  public init(_ client: GRPCClient<ChannelTransport>) {
    stub = Bct_V1_Retrieval.Client(wrapping: client)
  }

  /// Inserts or replaces documents.
  public func upsert(_ request: Bct_V1_UpsertRequest, timeout: Duration? = .seconds(60)) async throws -> Bct_V1_UpsertResponse {
    try await stub.upsert(request, options: callOptions(timeout: timeout))
  }

  /// Removes documents.
  public func delete(_ request: Bct_V1_DeleteRequest, timeout: Duration? = .seconds(30)) async throws -> Bct_V1_DeleteResponse {
    try await stub.delete(request, options: callOptions(timeout: timeout))
  }

  /// The nearest documents for each query.
  public func search(_ request: Bct_V1_SearchRequest, timeout: Duration? = .seconds(30)) async throws -> Bct_V1_SearchResponse {
    try await stub.search(request, options: callOptions(timeout: timeout))
  }

  /// Documents by id.
  public func get(_ request: Bct_V1_GetRequest, timeout: Duration? = .seconds(30)) async throws -> Bct_V1_GetResponse {
    try await stub.get(request, options: callOptions(timeout: timeout))
  }

  /// One page of documents in id order.
  public func list(_ request: Bct_V1_ListRequest, timeout: Duration? = .seconds(60)) async throws -> Bct_V1_ListResponse {
    try await stub.list(request, options: callOptions(timeout: timeout))
  }

  /// Index statistics.
  public func stats(timeout: Duration? = .seconds(10)) async throws -> Bct_V1_StatsResponse {
    try await stub.stats(Bct_V1_StatsRequest(), options: callOptions(timeout: timeout))
  }

  /// Starts, joins or stops a backfill and calls `onProgress` for each progress
  /// message until the server ends the stream; returns the last one.
  @discardableResult
  public func backfill(
    _ request: Bct_V1_BackfillRequest, timeout: Duration? = nil,
    onProgress: @escaping @Sendable (Bct_V1_BackfillProgress) async throws -> Void = { _ in }
  ) async throws -> Bct_V1_BackfillProgress? {
    try await stub.backfill(request, options: callOptions(timeout: timeout)) { response in
      var last: Bct_V1_BackfillProgress?
      for try await progress in response.messages {
        last = progress
        try await onProgress(progress)
      }
      return last
    }
  }
}
