import ArgumentParser
import BCTClient
import BCTProto
import Foundation

/// `bct upsert` / `bct index`: bulk-load inputs into the retrieval service.
struct Upsert: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Index inputs (a file or a dataset split) in the retrieval service, in batches.",
    aliases: ["index"])
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var input: InputOptions
  @Option(name: .customLong("model-version"), help: "Version to embed with; default: the collection's document version.") var version: String = ""
  @Flag(help: "Store documents of a version not certified against those in the index (same lineage).") var allowUncertified = false
  @Option(help: "Ids are this prefix plus the item's index.") var idPrefix: String = "item-"
  @Option(help: "Documents per request.") var batch: Int = 500
  @Flag(help: "The file holds embeddings by --model-version (computed elsewhere, e.g. an external version), not raw inputs.")
  var embeddings = false

  func validate() throws {
    if embeddings && version.isEmpty { throw ValidationError("--embeddings needs --model-version: the version that made them") }
  }

  func run() async throws {
    try await connection.traced("upsert") {
      let (inputs, labels, first, source) = try input.load()
      // Inputs go flat; the service reshapes them to the version it embeds with.
      var progress = ProgressBar()
      var (inserted, replaced) = (0, 0)
      var usedVersion = version
      let start = ProgressBar.seconds()
      try await connection.withRetrieval { client in
        for offset in stride(from: 0, to: inputs.rows, by: max(1, batch)) {
          let end = min(inputs.rows, offset + batch)
          var request = Bct_V1_UpsertRequest()
          request.modelVersion = version
          request.allowUncertified = allowUncertified
          request.documents = (offset..<end).map { r in
            var metadata = ["source": source, "index": "\(first + r)"]
            if let labels { metadata["label"] = "\(labels[r])" }
            let id = "\(idPrefix)\(first + r)"
            return embeddings
              ? Bct_V1_Document(id: id, metadata: metadata, embeddings: inputs, row: r, version: version)
              : Bct_V1_Document(id: id, metadata: metadata, inputs: inputs, row: r, shape: [inputs.columns])
          }
          let response = try await client.upsert(request, timeout: connection.timeout)
          inserted += Int(response.inserted)
          replaced += Int(response.replaced)
          usedVersion = response.modelVersion
          let rate = Double(end) / max(ProgressBar.seconds() - start, 1e-6)
          progress.update(label: "indexing", done: end, total: inputs.rows,
                          detail: String(format: "%.0f docs/s", rate), finished: end == inputs.rows)
        }
      }
      if connection.json {
        try printJSON(["inserted": inserted, "replaced": replaced, "model_version": usedVersion])
      } else {
        print("indexed \(inputs.rows) documents from \(source) with \(usedVersion): \(inserted) new, \(replaced) replaced")
      }
    }
  }
}
