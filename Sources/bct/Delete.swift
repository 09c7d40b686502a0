import ArgumentParser
import BCTClient
import BCTProto
import Foundation

/// `bct delete`: remove documents.
struct Delete: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Delete documents by id.")
  @OptionGroup var connection: ConnectionOptions
  @Argument(help: "Document ids.") var ids: [String]
  @Flag(help: "Skip ids that do not exist instead of failing.") var allowMissing = false

  func run() async throws {
    try await connection.traced("delete") {
      var request = Bct_V1_DeleteRequest()
      request.ids = ids
      request.allowMissing = allowMissing
      let response = try await connection.withRetrieval { try await $0.delete(request, timeout: connection.timeout) }
      if connection.json {
        try printJSON(["deleted": Int(response.deleted), "missing": response.missing])
      } else {
        print("deleted \(response.deleted)" + (response.missing.isEmpty ? "" : "; not found: \(response.missing.joined(separator: ", "))"))
      }
    }
  }
}
