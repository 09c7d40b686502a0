import BCTCollection
import BCTIndex
import BCTNumerics
import BCTProto
import BCTTensor
import Foundation

/// Get and List: reads documents back by id, or page by page in id order, with
/// their metadata, version and (on request) the searched embedding and raw input,
/// within the reply size limit.
public struct DocumentReader: Sendable {
  private let store: any CollectionStore
  private let limits: RetrievalLimits
  /// Documents per List page when the request says 0.
  public static let defaultPageSize = 100

  /// Reads of `store`.
  public init(store: any CollectionStore, limits: RetrievalLimits) {
    self.store = store
    self.limits = limits
  }

  /// The documents `request` names that exist, in request order, and the missing ids.
  public func get(_ request: Bct_V1_GetRequest) async throws -> Bct_V1_GetResponse {
    guard !request.ids.isEmpty else { throw RetrievalError.invalidArgument(field: "ids", message: "ids: empty; name at least one document") }
    guard request.ids.count <= limits.maxUpsert else {
      throw RetrievalError.overLimit(field: "ids", message: "\(request.ids.count) ids in one Get, over the maximum of \(limits.maxUpsert)")
    }
    var seen = Set<String>()
    for (i, id) in request.ids.enumerated() {
      try limits.validateID(id, at: "ids[\(i)]")
      guard seen.insert(id).inserted else {
        throw RetrievalError.invalidArgument(field: "ids[\(i)]", message: "ids[\(i)]: \"\(id)\" is named twice")
      }
    }
    let vectors = request.includeEmbedding || request.includeInput
    let found = Dictionary(
      try await store.documents(request.ids, vectors: vectors).map { ($0.document.id, $0.document) }, uniquingKeysWith: { a, _ in a })
    var response = Bct_V1_GetResponse()
    response.documents = try records(request.ids.compactMap { found[$0] }, embedding: request.includeEmbedding, input: request.includeInput)
    response.missing = request.ids.filter { found[$0] == nil }
    return response
  }

  /// One page of the listing `request` asks for.
  public func list(_ request: Bct_V1_ListRequest) async throws -> Bct_V1_ListResponse {
    let size = request.pageSize == 0 ? Self.defaultPageSize : Int(request.pageSize)
    guard size <= limits.maxUpsert else {
      throw RetrievalError.overLimit(field: "page_size", message: "page_size is \(request.pageSize), over the maximum of \(limits.maxUpsert)")
    }
    let cursor = try request.pageToken.isEmpty ? nil : Self.cursor(from: request.pageToken)
    if let cursor { try limits.validateID(cursor, at: "page_token") }
    let filter = request.hasFilter ? try MetadataFilter(wire: request.filter, field: "filter") : nil
    let vectors = request.includeEmbedding || request.includeInput
    let documents = try await store.list(after: cursor, limit: size, filter: filter, vectors: vectors)
    var response = Bct_V1_ListResponse()
    response.documents = try records(documents, embedding: request.includeEmbedding, input: request.includeInput)
    if documents.count == size, let last = documents.last { response.nextPageToken = Self.token(after: last.id) }
    return response
  }

  /// The wire records of `documents`, refused when they would exceed the reply limit.
  private func records(_ documents: [StoredDocument], embedding: Bool, input: Bool) throws -> [Bct_V1_DocumentRecord] {
    var bytes = 0
    return try documents.map { document in
      var record = Bct_V1_DocumentRecord()
      record.id = document.id
      record.metadata = document.metadata
      record.modelVersion = document.version
      record.inputStored = !document.input.isEmpty || !document.inputShape.isEmpty
      if embedding { record.embedding = TensorCodec.encode(Matrix(rows: 1, columns: document.vector.count, values: document.vector), shape: [document.vector.count]) }
      if input && !document.input.isEmpty {
        record.input = TensorCodec.encode(Matrix(rows: 1, columns: document.input.count, values: document.input), shape: document.inputShape)
      }
      bytes += record.id.utf8.count + record.modelVersion.utf8.count + 16 + VersionedIndex.Hit.replyBytes(of: document.metadata)
        + TensorCodec.payloadBytes(record.embedding) + TensorCodec.payloadBytes(record.input)
      guard bytes <= limits.maxReplyBytes else {
        throw RetrievalError.overLimit(field: "reply", message: "the reply would exceed the maximum of \(limits.maxReplyBytes) bytes after \(record.id); ask for fewer documents or leave out vectors")
      }
      return record
    }
  }

  /// The page token resuming after `id`: its UTF-8 bytes, base64url without padding.
  static func token(after id: String) -> String {
    Data(id.utf8).base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
      .replacingOccurrences(of: "=", with: "")
  }

  /// The id a page token resumes after.
  static func cursor(from token: String) throws -> String {
    var text = token.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
    text += String(repeating: "=", count: (4 - text.count % 4) % 4)
    guard token.utf8.count <= 4 * 1024, let data = Data(base64Encoded: text), let id = String(data: data, encoding: .utf8), !id.isEmpty else {
      throw RetrievalError.invalidArgument(field: "page_token", message: "page_token is not a token this service issued; start again with an empty one")
    }
    return id
  }
}
