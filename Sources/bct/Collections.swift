import ArgumentParser
import BCTProto

/// `bct collections`: create, drop and list the retrieval service's named collections.
struct Collections: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create, drop and list named collections (each with its own documents, version, backfills and index).",
    discussion: "Other retrieval commands reach a named collection with --collection NAME (env BCT_COLLECTION).",
    subcommands: [ListAll.self, Create.self, Drop.self], defaultSubcommand: ListAll.self)

  /// `bct collections list`.
  struct ListAll: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the collections, the default one first.")
    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      try await connection.traced("collections list") {
        let collections = try await connection.withRetrieval { try await $0.listCollections(timeout: connection.timeout) }
        if connection.json {
          try printJSON(collections.map(Collections.json))
          return
        }
        print("\(column("collection", 24)) \(column("documents", 10)) \(column("version", 12)) index")
        for c in collections {
          print("\(column(c.name, 24)) \(column("\(c.documents)", 10)) \(column(c.documentVersion.isEmpty ? "-" : c.documentVersion, 12)) \(Collections.describe(c.index))")
        }
      }
    }
  }

  /// `bct collections create NAME`.
  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create an empty collection.")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "Lowercase letters, digits and underscores, starting with a letter.") var name: String
    @Option(help: "flat, flat-sq8, flat-f16 or hnsw (default: the server's --index).") var index: String?
    @Option(name: .customLong("hnsw-m"), help: "HNSW links per node (default: the server's).") var hnswM: UInt32 = 0
    @Option(name: .customLong("hnsw-ef-construction"), help: "HNSW build candidate list (default: the server's).") var hnswEfConstruction: UInt32 = 0
    @Option(name: .customLong("hnsw-ef-search"), help: "HNSW search candidate list (default: the server's).") var hnswEfSearch: UInt32 = 0

    func validate() throws {
      guard index == nil || Self.kinds[index!] != nil else {
        throw ValidationError("--index must be flat, flat-sq8, flat-f16 or hnsw; got \(index!)")
      }
    }

    static let kinds: [String: Bct_V1_IndexSettings.Kind] = ["flat": .flat, "flat-sq8": .flatSq8, "flat-f16": .flatF16, "hnsw": .hnsw]

    func run() async throws {
      var settings = Bct_V1_IndexSettings()
      settings.kind = index.flatMap { Self.kinds[$0] } ?? .unspecified
      settings.hnswM = hnswM
      settings.hnswEfConstruction = hnswEfConstruction
      settings.hnswEfSearch = hnswEfSearch
      try await connection.traced("collections create") {
        let info = try await connection.withRetrieval {
          try await $0.createCollection(name, index: settings == Bct_V1_IndexSettings() ? nil : settings, timeout: connection.timeout)
        }
        if connection.json { return try printJSON(Collections.json(info)) }
        print("created collection \(info.name) (\(Collections.describe(info.index)))")
      }
    }
  }

  /// `bct collections drop NAME`.
  struct Drop: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Drop a collection and every document in it (irreversible).")
    @OptionGroup var connection: ConnectionOptions
    @Argument(help: "The collection.") var name: String

    func run() async throws {
      try await connection.traced("collections drop") {
        let documents = try await connection.withRetrieval { try await $0.dropCollection(name, timeout: connection.timeout) }
        if connection.json { return try printJSON(["dropped": name, "documents": Int(documents)]) }
        print("dropped collection \(name) (\(documents) documents)")
      }
    }
  }

  /// A collection as JSON.
  static func json(_ c: Bct_V1_CollectionInfo) -> [String: Any] {
    ["name": c.name, "documents": Int(c.documents), "document_version": c.documentVersion, "index": describe(c.index)]
  }

  /// "flat", "flat-sq8", "flat-f16" or "hnsw(M=16,efConstruction=200,efSearch=64)".
  static func describe(_ index: Bct_V1_IndexSettings) -> String {
    switch index.kind {
    case .hnsw: "hnsw(M=\(index.hnswM),efConstruction=\(index.hnswEfConstruction),efSearch=\(index.hnswEfSearch))"
    case .flatSq8: "flat-sq8"
    case .flatF16: "flat-f16"
    default: "flat"
    }
  }
}
