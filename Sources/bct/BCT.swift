import ArgumentParser

/// `bct`: train, evaluate and use backward-compatible embedding models.
@main
struct BCT: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bct",
    abstract: "Train, evaluate, serve and search backward-compatible embeddings.",
    discussion: """
      train and eval work on model files; models and embed talk to bct-encoder \
      (--encoder, env BCT_ENCODER); upsert (alias index), search, delete, backfill, \
      stats, get, list, export and collections talk to bct-retrieval (--retrieval, env BCT_RETRIEVAL; \
      --collection, env BCT_COLLECTION, picks a named collection); health checks both; \
      demo runs the whole upgrade story. Failed calls print the gRPC status and message \
      on one line and exit non-zero.
      """,
    version: "0.2.0",
    subcommands: [
      Train.self, Eval.self, Adapt.self, Models.self, Embed.self, Upsert.self, Search.self, Delete.self, Backfill.self,
      Get.self, List.self, Export.self, Stats.self, Collections.self, Health.self, Demo.self, CompatMatrix.self,
    ]
  )
}
