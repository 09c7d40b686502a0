import BCTTensor
import ArgumentParser
import BCTClient
import BCTProto
import Foundation

/// `bct search`: nearest documents for queries.
struct Search: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Search the retrieval service with queries from a file or a dataset split.")
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var input: InputOptions
  @Option(name: .short, help: "Neighbours per query.") var k: Int = 5
  @Option(name: .customLong("model-version"), help: "Version to embed the queries with; default: the newest certified against every document version in the index.") var version: String = ""
  @Flag(help: "Compare with document versions the query version holds no passing certificate for (same lineage).") var allowUncertified = false
  @Flag(help: "The file holds query embeddings by --model-version (computed elsewhere), not raw inputs.") var embeddings = false
  @OptionGroup var filter: FilterOptions

  func validate() throws {
    if embeddings && version.isEmpty { throw ValidationError("--embeddings needs --model-version: the version that made them") }
  }

  func run() async throws {
    try await connection.traced("search") {
      let (inputs, labels, first, _) = try input.load()
      // Rows go flat ([N, values]); the service reshapes them to the query version's input shape.
      var request = Bct_V1_SearchRequest()
      if embeddings {
        request.embeddings.modelVersion = version
        request.embeddings.vectors = Bct_V1_Tensor(batch: inputs, rowShape: [inputs.columns])
      } else {
        request.inputs = Bct_V1_Tensor(batch: inputs, rowShape: [inputs.columns])
      }
      request.k = Int32(clamping: k)
      request.queryModelVersion = version
      request.allowUncertified = allowUncertified
      if let filter = try filter.make() { request.filter = filter }
      let response = try await connection.withRetrieval { try await $0.search(request, timeout: connection.timeout) }
      if connection.json {
        try printJSON(["query_model_version": response.queryModelVersion, "query_space_version": response.querySpaceVersion,
                       "document_versions": response.documentVersions,
                       "results": response.results.enumerated().map { q, result in
                         ["query": first + q, "hits": result.hits.map { ["id": $0.id, "score": Double($0.score), "document_version": $0.documentVersion, "metadata": $0.metadata] as [String: Any] }] as [String: Any]
                       }])
        return
      }
      let space = response.querySpaceVersion.isEmpty || response.querySpaceVersion == response.queryModelVersion
        ? "" : ", mapped into \(response.querySpaceVersion)'s space by its query adapter"
      print("queries embedded with \(response.queryModelVersion)\(space); documents of \(response.documentVersions.joined(separator: ", "))")
      for (q, result) in response.results.enumerated() {
        print("\nquery \(first + q)\(labels.map { " (label \($0[q]))" } ?? "")")
        print("  rank  \(column("id", 20)) score    version     metadata")
        for (rank, hit) in result.hits.enumerated() {
          let metadata = hit.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
          print("  \(column("\(rank + 1)", 4))  \(column(hit.id, 20)) \(String(format: "%.4f", hit.score))  \(column(hit.documentVersion, 10))  \(metadata)")
        }
      }
    }
  }
}
