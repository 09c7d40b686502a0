import ArgumentParser

/// `bct-retrieval`: the gRPC service that indexes and searches versioned embeddings.
@main
struct RetrievalCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bct-retrieval",
    abstract: "Index and search version-tagged embeddings over gRPC (bct.v1.Retrieval).",
    discussion: "The service itself arrives with the retrieval issue; this build only describes it.",
    version: "0.1.0"
  )
}
