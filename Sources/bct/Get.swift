import ArgumentParser
import BCTProto
import BCTTensor
import Foundation

/// `bct get`: documents by id.
struct Get: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Read documents back by id: version, metadata and, on request, vectors.")
  @OptionGroup var connection: ConnectionOptions
  @Argument(help: "Document ids.") var ids: [String]
  @Flag(help: "Also return each document's searched embedding.") var embeddings = false
  @Flag(help: "Also return each document's stored raw input.") var inputs = false

  func run() async throws {
    try await connection.traced("get") {
      var request = Bct_V1_GetRequest()
      request.ids = ids
      request.includeEmbedding = embeddings
      request.includeInput = inputs
      let response = try await connection.withRetrieval { try await $0.get(request, timeout: connection.timeout) }
      if connection.json {
        try printJSON(["documents": try response.documents.map(DocumentRecordPrinting.json), "missing": response.missing])
        return
      }
      DocumentRecordPrinting.table(response.documents)
      if !response.missing.isEmpty { print("missing: \(response.missing.joined(separator: ", "))") }
    }
  }
}

/// How `bct get` and `bct list` print document records.
enum DocumentRecordPrinting {
  /// One record as a JSON object.
  static func json(_ record: Bct_V1_DocumentRecord) throws -> [String: Any] {
    var out: [String: Any] = [
      "id": record.id, "model_version": record.modelVersion, "metadata": record.metadata, "input_stored": record.inputStored,
    ]
    if record.hasEmbedding { out["embedding"] = try TensorCodec.values(of: record.embedding, what: "embedding").map(Double.init) }
    if record.hasInput {
      out["input"] = try TensorCodec.values(of: record.input, what: "input").map(Double.init)
      out["input_shape"] = record.input.shape
    }
    return out
  }

  /// Records as a table.
  static func table(_ records: [Bct_V1_DocumentRecord]) {
    print("\(column("id", 24)) \(column("version", 12)) input  metadata")
    for record in records {
      let metadata = record.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
      print("\(column(record.id, 24)) \(column(record.modelVersion, 12)) \(record.inputStored ? "yes  " : "no   ")  \(metadata)")
      if record.hasEmbedding, let values = try? TensorCodec.values(of: record.embedding, what: "embedding") {
        print("  embedding [\(values.count)]: \(values.prefix(8).map { String(format: "%.4f", $0) }.joined(separator: " "))\(values.count > 8 ? " ..." : "")")
      }
    }
  }
}
