import ArgumentParser
import BCTClient
import BCTData
import BCTNumerics
import Foundation

/// `bct embed`: embeddings of inputs, written as .npy or printed.
struct Embed: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Embed inputs with a model version; write .npy or print.")
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var input: InputOptions
  @Option(name: .customLong("model-version"), help: "Model version; default: the encoder's default.") var version: String = ""
  @Flag(help: "Return the raw backbone output instead of unit-length rows.") var raw = false
  @Option(help: "Write the embeddings to this .npy file instead of printing them.") var out: String?
  @Option(help: "Inputs per request.") var batch: Int = 256

  func run() async throws {
    try await connection.traced("embed") {
      let (inputs, _, first, source) = try input.load()
      let requested = version
      let (used, embeddings) = try await connection.withEncoder { client -> (String, Matrix) in
        let shape = try inputShape(of: requested, in: try await client.listModels(timeout: connection.timeout))
        try checkWidth(inputs.columns, fits: shape, source: source)
        var rows: [Float] = []
        var used = requested
        var dim = 0
        for start in stride(from: 0, to: inputs.rows, by: max(1, batch)) {
          let part = inputs.rows(start..<min(inputs.rows, start + batch))
          let result = try await client.embed(part, rowShape: shape, version: requested, normalize: !raw, timeout: connection.timeout)
          used = result.version
          dim = result.embeddings.columns
          rows += result.embeddings.values
        }
        return (used, Matrix(rows: inputs.rows, columns: dim, values: rows))
      }
      if let out {
        try Data(NPY.encode(shape: [embeddings.rows, embeddings.columns], values: embeddings.values)).write(to: URL(fileURLWithPath: out))
        print("wrote \(embeddings.rows) x \(embeddings.columns) embeddings by \(used) to \(out)")
      } else if connection.json {
        try printJSON(["model_version": used, "first": first, "embeddings": (0..<embeddings.rows).map { embeddings.row($0) }])
      } else {
        for r in 0..<embeddings.rows {
          let row = embeddings.row(r)
          print("\(first + r) \(used) " + row.map { String(format: "%.5f", $0) }.joined(separator: " "))
        }
      }
    }
  }
}
