import ArgumentParser
import BCTProto

/// `bct list`: documents page by page, in id order.
struct List: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List documents in id order, a page at a time, optionally filtered by metadata.")
  @OptionGroup var connection: ConnectionOptions
  @OptionGroup var filter: FilterOptions
  @Option(help: "Documents per page (the server allows up to its Upsert maximum).") var pageSize: Int = 100
  @Option(help: "Resume after the page that printed this token.") var pageToken: String = ""
  @Flag(help: "Follow the tokens to the end instead of printing one page.") var all = false
  @Flag(help: "Also return each document's searched embedding.") var embeddings = false

  func validate() throws {
    guard (1...1_000_000).contains(pageSize) else { throw ValidationError("--page-size must be 1 or more") }
  }

  func run() async throws {
    try await connection.traced("list") {
      var request = Bct_V1_ListRequest()
      if let filter = try filter.make() { request.filter = filter }
      request.pageSize = UInt32(pageSize)
      request.pageToken = pageToken
      request.includeEmbedding = embeddings
      var records: [Bct_V1_DocumentRecord] = []
      let next = try await Self.follow(request, connection: connection, all: all) { records += $0 }
      if connection.json {
        try printJSON(["documents": try records.map(DocumentRecordPrinting.json), "next_page_token": next])
        return
      }
      DocumentRecordPrinting.table(records)
      print(next.isEmpty ? "(end of the listing)" : "next page: --page-token \(next)")
    }
  }

  /// Asks for `request`'s page and, with `all`, every later one, handing each page's
  /// documents to `body`; returns the token after the last page asked for.
  static func follow(
    _ request: Bct_V1_ListRequest, connection: ConnectionOptions, all: Bool, _ body: ([Bct_V1_DocumentRecord]) throws -> Void
  ) async throws -> String {
    var request = request
    repeat {
      let page = try await connection.withRetrieval { try await $0.list(request, timeout: connection.timeout) }
      try body(page.documents)
      request.pageToken = page.nextPageToken
    } while all && !request.pageToken.isEmpty
    return request.pageToken
  }
}
