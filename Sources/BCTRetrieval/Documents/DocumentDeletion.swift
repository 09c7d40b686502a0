import BCTCollection
import BCTProto
import Foundation

extension CollectionStore {
  /// Removes the documents `request` names (every copy of their embeddings);
  /// unknown ids fail the call unless `allow_missing`.
  public func delete(_ request: Bct_V1_DeleteRequest, limits: RetrievalLimits) async throws -> Bct_V1_DeleteResponse {
    guard !request.ids.isEmpty else { throw RetrievalError.invalidArgument(field: "ids", message: "ids: empty; name at least one document") }
    guard request.ids.count <= limits.maxUpsert else {
      throw RetrievalError.overLimit(field: "ids", message: "\(request.ids.count) ids in one Delete, over the maximum of \(limits.maxUpsert)")
    }
    for (i, id) in request.ids.enumerated() { try limits.validateID(id, at: "ids[\(i)]") }
    var seen = Set<String>()
    let unique = request.ids.filter { seen.insert($0).inserted }
    var response = Bct_V1_DeleteResponse()
    let (sequence, (missing, deleted)) = try await commit(reading: ViewQuery(ids: unique)) { view in
      let missing = unique.filter { view.documents[$0] == nil }
      if !missing.isEmpty && !request.allowMissing {
        throw RetrievalError.documentsMissing(ids: missing)
      }
      let present = unique.filter { view.documents[$0] != nil }
      return (present.isEmpty ? [] : [.delete(present)], (missing, present.count))
    }
    response.sequence = sequence
    response.missing = missing
    response.deleted = UInt32(deleted)
    return response
  }
}
