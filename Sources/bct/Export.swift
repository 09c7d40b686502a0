import ArgumentParser
import BCTData
import BCTProto
import BCTTensor
import Foundation

/// `bct export`: every document (or those a filter passes) to files.
struct Export: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Export documents in id order: their searched embeddings to a .npy file, ids, versions and metadata as JSON lines beside it.")
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var filter: FilterOptions
  @Option(help: "The .npy file for the embeddings, [N, dim] float32; the JSON lines go to the same path with .jsonl.") var out: String
  @Option(help: "Documents per List call.") var pageSize: Int = 512

  func validate() throws {
    guard out.hasSuffix(".npy") else { throw ValidationError("--out must end in .npy") }
    guard (1...1_000_000).contains(pageSize) else { throw ValidationError("--page-size must be 1 or more") }
  }

  func run() async throws {
    try await connection.traced("export") {
      var request = Bct_V1_ListRequest()
      if let filter = try filter.make() { request.filter = filter }
      request.pageSize = UInt32(pageSize)
      request.includeEmbedding = true
      var values: [Float] = []
      var lines = Data()
      var rows = 0, dimension: Int?
      _ = try await List.follow(request, connection: connection, all: true) { documents in
        for record in documents {
          let vector = try TensorCodec.values(of: record.embedding, what: "embedding of \(record.id)")
          if let dimension, dimension != vector.count {
            throw ValidationError("document \(record.id) has a \(record.modelVersion) embedding of \(vector.count) values, others \(dimension): versions of different widths cannot share one array; export each with --where or finish the backfill first")
          }
          dimension = vector.count
          values += vector
          let line: [String: Any] = ["row": rows, "id": record.id, "model_version": record.modelVersion, "metadata": record.metadata]
          lines += try JSONSerialization.data(withJSONObject: line, options: [.sortedKeys]) + Data("\n".utf8)
          rows += 1
        }
      }
      let jsonl = String(out.dropLast(4)) + ".jsonl"
      try Data(NPY.encode(shape: [rows, dimension ?? 0], values: values)).write(to: URL(fileURLWithPath: out), options: .atomic)
      try lines.write(to: URL(fileURLWithPath: jsonl), options: .atomic)
      print("exported \(rows) documents: embeddings \(out) [\(rows), \(dimension ?? 0)], ids and metadata \(jsonl)")
    }
  }
}
