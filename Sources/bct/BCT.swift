import ArgumentParser

/// `bct`: train, evaluate and use backward-compatible embedding models.
@main
struct BCT: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bct",
    abstract: "Train, evaluate, serve and search backward-compatible embeddings.",
    discussion: """
      Subcommands arrive with the issues that build them: train and eval \
      (training), models and embed (encoder), upsert, search, delete, backfill, \
      stats and health (retrieval), and demo (the end-to-end upgrade story).
      """,
    version: "0.1.0",
    subcommands: [Train.self, Eval.self, Demo.self]
  )
}
