import BCTTracing
import BCTRuntime
import ArgumentParser
import BCTClient
import BCTCollection
import BCTIndex
import BCTMilvus
import BCTMilvusStore
import BCTNumerics
import BCTRetrieval
import BCTServing
import BCTStorage
import Foundation
import GRPCCore
import Logging
import ServiceLifecycle

/// `bct-retrieval`: the gRPC service with the versioned in-memory index.
@main
struct RetrievalCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bct-retrieval",
    abstract: "Serve a version-tagged in-memory document index over gRPC (bct.v1.Retrieval and grpc.health.v1.Health).",
    discussion: """
      Documents are embedded through the encoder (--encoder) or arrive as ready embeddings with \
      their version. Searches compare only versions of one lineage (FAILED_PRECONDITION otherwise). \
      Every acknowledged Upsert/Delete is in the write-ahead log in --data-dir before it is \
      acknowledged (--fsync always); snapshots bound the log; startup restores both. Raw inputs \
      are kept with each document so that a backfill can re-embed it. Prints \
      "bct-retrieval listening on HOST:PORT" once serving; SIGTERM or SIGINT shut it down \
      gracefully with a final snapshot.
      """,
    version: "0.2.0"
  )

  @Option(help: "The encoder, HOST:PORT. Env BCT_ENCODER.")
  var encoder: String = EnvironmentDefault.string("BCT_ENCODER", "127.0.0.1:50051")

  @Option(help: "Folder for the write-ahead log and snapshots. Env BCT_DATA_DIR.")
  var dataDir: String = EnvironmentDefault.string("BCT_DATA_DIR", "data")

  @Option(help: "Address to listen on. Env BCT_HOST.")
  var host: String = EnvironmentDefault.string("BCT_HOST", "0.0.0.0")

  @Option(help: "gRPC port (0 picks a free one). Env BCT_PORT.")
  var port: Int = EnvironmentDefault.int("BCT_PORT", 50052)

  @Option(help: "Prometheus /metrics port (0 picks a free one). Env BCT_METRICS_PORT (-1 disables).")
  var metricsPort: Int = EnvironmentDefault.int("BCT_METRICS_PORT", 9092)

  @Option(help: "When the log reaches the disk: always (before acknowledging), interval (each second), never. Env BCT_FSYNC.")
  var fsync: String = EnvironmentDefault.string("BCT_FSYNC", "always")

  @Option(help: "Seconds between snapshots while there are changes. Env BCT_SNAPSHOT_INTERVAL.")
  var snapshotInterval: Double = EnvironmentDefault.double("BCT_SNAPSHOT_INTERVAL", 60)

  @Option(help: "Seconds a switched shadow upgrade keeps the previous embeddings (rollback possible) before dropping them; a Backfill request may set its own. Env BCT_SHADOW_GRACE.")
  var shadowGrace: Double = EnvironmentDefault.double("BCT_SHADOW_GRACE", 86_400)

  @Option(help: "Largest Search reply in bytes (hits with their ids and metadata); larger ones are RESOURCE_EXHAUSTED. Env BCT_MAX_REPLY_BYTES.")
  var maxReplyBytes: Int = EnvironmentDefault.int("BCT_MAX_REPLY_BYTES", 64 << 20)

  @Option(help: "With --store milvus://: seconds each Milvus call is retried while the server cannot be reached or is not ready (a real server restarts in 20-60 s); then UNAVAILABLE. Env BCT_MILVUS_RETRY_SECONDS.")
  var milvusRetrySeconds: Double = EnvironmentDefault.double("BCT_MILVUS_RETRY_SECONDS", 60)

  @Option(help: "Logged changes that trigger a snapshot. Env BCT_SNAPSHOT_CHANGES.")
  var snapshotChanges: Int = EnvironmentDefault.int("BCT_SNAPSHOT_CHANGES", 1000)

  @Option(help: "Most documents per Upsert or ids per Delete. Env BCT_MAX_UPSERT.")
  var maxUpsert: Int = EnvironmentDefault.int("BCT_MAX_UPSERT", 1024)

  @Option(help: "Most queries per Search. Env BCT_MAX_QUERIES.")
  var maxQueries: Int = EnvironmentDefault.int("BCT_MAX_QUERIES", 256)

  @Option(help: "Largest k. Env BCT_MAX_K.")
  var maxK: Int = EnvironmentDefault.int("BCT_MAX_K", 1000)

  @Option(help: "Inputs per encoder call when embedding documents. Env BCT_EMBED_BATCH.")
  var embedBatch: Int = EnvironmentDefault.int("BCT_EMBED_BATCH", 256)

  @Option(help: "Attempts per encoder call while it answers UNAVAILABLE (1-5; grpc-swift's retry policy). Env BCT_ENCODER_ATTEMPTS.")
  var encoderAttempts: Int = EnvironmentDefault.int("BCT_ENCODER_ATTEMPTS", 3)

  @Flag(help: "Serve no /metrics endpoint.")
  var noMetrics = false

  @Option(name: .customLong("encoder-ca"), help: "PEM CA that signed the encoder's TLS certificate; turns TLS to the encoder on. Env BCT_ENCODER_CA.")
  var encoderCAText: String = ""

  @Option(name: .customLong("encoder-cert"), help: "PEM certificate presenting this service to the encoder (mutual TLS). Env BCT_ENCODER_CERT.")
  var encoderCertText: String = ""

  @Option(name: .customLong("encoder-key"), help: "PEM private key of --encoder-cert. Env BCT_ENCODER_KEY.")
  var encoderKeyText: String = ""

  @Option(name: .customLong("encoder-token"), help: "Bearer token for the encoder. Env BCT_ENCODER_TOKEN (preferred: flags show in ps).")
  var encoderTokenText: String = ""

  @Option(help: "OpenBLAS threads for searches (default: all cores). Env BCT_BLAS_THREADS.")
  var blasThreads: Int = EnvironmentDefault.int("BCT_BLAS_THREADS", 0)

  @Option(help: "Where documents live: memory (in this process, with the write-ahead log and snapshots in --data-dir) or milvus://HOST:PORT[/PREFIX] (a Milvus server; this process keeps nothing). Env BCT_STORE.")
  var store: String = EnvironmentDefault.string("BCT_STORE", "memory")

  @Flag(help: "Serve searches and stats only: refuse upserts, deletes and backfills, run no backfill. For replicas beside the one writer of a Milvus catalogue. Env BCT_READ_ONLY=1.")
  var readOnly = EnvironmentDefault.string("BCT_READ_ONLY", "") == "1"

  @Option(help: "Index of each version segment: flat (exact), flat-sq8 or flat-f16 (a compressed scan, its candidates re-ranked exactly) or hnsw (approximate, hnswlib). Env BCT_INDEX.")
  var index: String = EnvironmentDefault.string("BCT_INDEX", "flat")

  @Option(name: .customLong("hnsw-m"), help: "HNSW links per node. Env BCT_HNSW_M.")
  var hnswM: Int = EnvironmentDefault.int("BCT_HNSW_M", 16)

  @Option(name: .customLong("hnsw-ef-construction"), help: "HNSW candidate list while building. Env BCT_HNSW_EF_CONSTRUCTION.")
  var hnswEfConstruction: Int = EnvironmentDefault.int("BCT_HNSW_EF_CONSTRUCTION", 200)

  @Option(name: .customLong("hnsw-ef-search"), help: "HNSW candidate list while searching (a Search may set ef_search). Env BCT_HNSW_EF_SEARCH.")
  var hnswEfSearch: Int = EnvironmentDefault.int("BCT_HNSW_EF_SEARCH", 64)

  @Option(help: "Named collections at most (CreateCollection beyond it is RESOURCE_EXHAUSTED). Env BCT_MAX_COLLECTIONS.")
  var maxCollections: Int = EnvironmentDefault.int("BCT_MAX_COLLECTIONS", 100)

  @Option(help: "Longest collection name in bytes, 1-128. Env BCT_MAX_COLLECTION_NAME.")
  var maxCollectionName: Int = EnvironmentDefault.int("BCT_MAX_COLLECTION_NAME", 64)

  @OptionGroup var server: ServerOptions

  @OptionGroup var security: SecurityOptions

  /// `--encoder-ca`, nil when not given.
  var encoderCA: String? { encoderCAText.isEmpty ? EnvironmentDefault.optional("BCT_ENCODER_CA") : encoderCAText }

  /// `--encoder-cert`, nil when not given.
  var encoderCert: String? { encoderCertText.isEmpty ? EnvironmentDefault.optional("BCT_ENCODER_CERT") : encoderCertText }

  /// `--encoder-key`, nil when not given.
  var encoderKey: String? { encoderKeyText.isEmpty ? EnvironmentDefault.optional("BCT_ENCODER_KEY") : encoderKeyText }

  /// `--encoder-token`, nil when not given.
  var encoderToken: String? { encoderTokenText.isEmpty ? EnvironmentDefault.optional("BCT_ENCODER_TOKEN") : encoderTokenText }

  func validate() throws {
    try validatePort(port, flag: "--port")
    try ServiceRunner.validateMetricsPort(metricsPort)
    _ = try ServiceAddress(parsing: encoder)
    guard DurableLog.SyncPolicy(rawValue: fsync) != nil else {
      throw ValidationError("--fsync must be always, interval or never; got \(fsync)")
    }
    guard (1...5).contains(encoderAttempts) else {
      throw ValidationError("--encoder-attempts must be 1-5 (gRPC retries at most 5 attempts); got \(encoderAttempts)")
    }
    for (flag, value) in [("--max-upsert", maxUpsert), ("--max-queries", maxQueries), ("--max-k", maxK),
                          ("--embed-batch", embedBatch), ("--max-reply-bytes", maxReplyBytes), ("--encoder-attempts", encoderAttempts), ("--snapshot-changes", snapshotChanges)]
    where value < 1 {
      throw ValidationError("\(flag) must be at least 1; got \(value)")
    }
    guard snapshotInterval > 0, snapshotInterval <= 604_800 else {
      throw ValidationError("--snapshot-interval must be positive and at most 604800 seconds (a week); got \(snapshotInterval)")
    }
    guard shadowGrace >= 0, shadowGrace.isFinite else { throw ValidationError("--shadow-grace must be 0 or more seconds") }
    guard milvusRetrySeconds >= 0, milvusRetrySeconds <= 3600 else {
      throw ValidationError("--milvus-retry-seconds must be 0-3600; got \(milvusRetrySeconds)")
    }
    guard (encoderCert == nil) == (encoderKey == nil) else { throw ValidationError("--encoder-cert and --encoder-key go together") }
    guard blasThreads >= 0 else { throw ValidationError("--blas-threads must be 0 (all cores) or more") }
    guard (0...100_000).contains(maxCollections) else { throw ValidationError("--max-collections must be 0-100000; got \(maxCollections)") }
    guard (1...128).contains(maxCollectionName) else { throw ValidationError("--max-collection-name must be 1-128; got \(maxCollectionName)") }
    _ = try indexKind
  }

  /// The index `--index` and the HNSW flags describe.
  var indexKind: IndexKind {
    get throws {
      switch index {
      case "flat": return .flat
      case "flat-sq8": return .quantized(.sq8)
      case "flat-f16": return .quantized(.f16)
      case "hnsw":
        let parameters = HNSWParameters(m: hnswM, efConstruction: hnswEfConstruction, efSearch: hnswEfSearch)
        if let problem = parameters.problem { throw ValidationError("--hnsw-*: \(problem)") }
        guard hnswEfSearch <= Int(RetrievalLimits.maxEfSearch) else {
          throw ValidationError("--hnsw-ef-search must be at most \(RetrievalLimits.maxEfSearch); got \(hnswEfSearch)")
        }
        return .hnsw(parameters)
      default: throw ValidationError("--index must be flat, flat-sq8, flat-f16 or hnsw; got \(index)")
      }
    }
  }

  func run() async throws {
    let logger = server.logger(label: "bct-retrieval")
    let telemetry = try Telemetry.make(serviceName: "bct-retrieval")
    let health = HealthStatusStore(services: ["bct.v1.Retrieval"])
    let directory = URL(fileURLWithPath: dataDir)
    let lock: DirectoryLock
    do {
      lock = try DirectoryLock(directory)
    } catch {
      throw ValidationError("cannot open --data-dir \(dataDir): \(error); one bct-retrieval per data directory")
    }
    defer { withExtendedLifetime(lock) {} }
    let address = try ServiceAddress(parsing: encoder)
    if blasThreads > 0 { BLAS.setThreadCount(blasThreads) }
    AllocatorTuning.returnFreedMemory()
    let client = try makeGRPCClient(to: address, security: ClientSecurity(
      caFile: encoderCA, certificateFile: encoderCert, keyFile: encoderKey, token: encoderToken), telemetry: telemetry)
    let gateway = EncoderGateway(
      client: EncoderClient(client), address: encoder, cacheFile: directory.appendingPathComponent("models.json"),
      attempts: encoderAttempts, embedBatch: embedBatch, logger: logger)
    if store == "memory" {
      let policy = DurableLog.SyncPolicy(rawValue: fsync)!
      let documents: DocumentStore
      do {
        documents = try DocumentStore(directory: directory, policy: policy, indexKind: try indexKind, logger: logger)
      } catch {
        throw ValidationError("cannot open --data-dir \(dataDir): \(error)")
      }
      let catalog = MemoryCollectionCatalog(
        dataDirectory: directory, policy: policy, snapshotInterval: .seconds(snapshotInterval), snapshotChanges: snapshotChanges,
        health: health, logger: logger)
      try await serve(
        defaultCollection: catalog.serving(documents, logger: logger), catalog: catalog, gateway: gateway,
        encoderClient: client, health: health, telemetry: telemetry, logger: logger)
      return
    }
    try await serveMilvus(gateway: gateway, encoderClient: client, health: health, telemetry: telemetry, logger: logger)
  }

  /// Serves with documents in Milvus (`--store milvus://...`).
  private func serveMilvus(
    gateway: EncoderGateway, encoderClient: GRPCClient<ChannelTransport>, health: HealthStatusStore, telemetry: Telemetry, logger: Logger
  ) async throws {
    let location: MilvusLocation
    do {
      location = try MilvusLocation(parsing: store)
    } catch {
      throw ValidationError("--store must be memory or milvus://HOST:PORT[/PREFIX]: \(error)")
    }
    let parameters = HNSWParameters(m: hnswM, efConstruction: hnswEfConstruction, efSearch: hnswEfSearch)
    if let problem = parameters.problem { throw ValidationError("--hnsw-*: \(problem)") }
    let milvus = try makeGRPCClient(to: location.address)
    try await withThrowingDiscardingTaskGroup { group in
      group.addTask { try await milvus.runConnections() }
      defer { milvus.beginGracefulShutdown() }
      // The writer makes every write, so its own session is as strong as strong reads
      // without waiting a time tick per read; replicas see another process's writes.
      let client = MilvusClient(
        milvus, address: "\(location.address)", retryFor: .milliseconds(Int64(milvusRetrySeconds * 1000)),
        readConsistency: readOnly ? .strong : .session, maxMessageBytes: Self.milvusMessageLimit(replyLimit: maxReplyBytes))
      let inputSize: @Sendable (String) -> Int? = { gateway.cachedModels.versions[$0]?.inputShape.reduce(1, *) }
      let documents = MilvusCollectionStore(client: client, location: location, hnsw: parameters, inputSize: inputSize, logger: logger)
      do {
        try await documents.open()
      } catch {
        logger.critical("cannot open the Milvus store", metadata: ["location": "\(location)", "error": "\(error)"])
        throw ValidationError("cannot open --store \(location): \(error)")
      }
      let catalog = MilvusCollectionCatalog(client: client, base: location, defaultHNSW: parameters, inputSize: inputSize, logger: logger)
      try await serve(
        defaultCollection: catalog.serving(documents),
        catalog: catalog, gateway: gateway, encoderClient: encoderClient, health: health, telemetry: telemetry, logger: logger)
    }
  }

  /// The largest Milvus message the store takes: twice the reply limit (a search's
  /// hits come back per searched version, with ids but no metadata), at least 64 MiB
  /// and at most 1 GiB.
  static func milvusMessageLimit(replyLimit: Int) -> Int {
    let (twice, overflow) = replyLimit.multipliedReportingOverflow(by: 2)
    return overflow ? 1 << 30 : min(max(twice, 64 << 20), 1 << 30)
  }

  private func serve(
    defaultCollection: OpenedCollection, catalog: any CollectionCatalog, gateway: EncoderGateway,
    encoderClient: GRPCClient<ChannelTransport>, health: HealthStatusStore, telemetry: Telemetry, logger: Logger
  ) async throws {
    let metrics = ServiceMetrics(service: "retrieval")
    var limits = RetrievalLimits()
    limits.maxUpsert = maxUpsert
    limits.maxQueries = maxQueries
    limits.maxK = maxK
    limits.maxMessageBytes = server.maxMessageBytes
    limits.maxReplyBytes = maxReplyBytes
    var settings = CollectionRegistry.Settings()
    settings.maxCollections = maxCollections
    settings.maxNameLength = maxCollectionName
    settings.defaultIndex = store == "memory" ? try indexKind : .hnsw(HNSWParameters(m: hnswM, efConstruction: hnswEfConstruction, efSearch: hnswEfSearch))
    settings.shadowGraceSeconds = shadowGrace
    settings.readOnly = readOnly
    let registry = CollectionRegistry(
      defaultCollection: defaultCollection, catalog: catalog, encoder: gateway, limits: limits, settings: settings, logger: logger)
    do {
      try await registry.openExisting()
    } catch {
      logger.critical("cannot open the named collections", metadata: ["error": "\(error)"])
      throw ValidationError("cannot open the named collections of --store \(store): \(error)")
    }
    let service = RetrievalService(registry: registry, encoder: gateway, limits: limits, metrics: metrics, readOnly: readOnly)
    health.set(.serving, for: "bct.v1.Retrieval")
    health.set(.serving, for: "")
    let grpc = GRPCServerService(
      name: "bct-retrieval", host: host, port: port, options: server, security: security, services: [service],
      serviceNames: ["bct.v1.Retrieval"], health: health, telemetry: telemetry, logger: logger)
    try await ServiceRunner.run(
      name: "bct-retrieval", host: host, metricsPort: noMetrics ? -1 : metricsPort, metrics: metrics, server: server,
      background: [registry, ClientConnections(encoderClient)], grpc: grpc, telemetry: telemetry, logger: logger)
  }
}
