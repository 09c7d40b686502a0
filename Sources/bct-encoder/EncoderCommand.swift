import BCTTracing
import BCTRuntime
import ArgumentParser
import BCTEncoder
import BCTNumerics
import BCTServing
import Foundation
import Logging

/// `bct-encoder`: the gRPC service that hosts versioned embedding backbones.
@main
struct EncoderCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "bct-encoder",
    abstract: "Serve versioned embedding backbones over gRPC (bct.v1.Encoder and grpc.health.v1.Health).",
    discussion: """
      Loads every version folder of the model repository (manifest.json, backbone.safetensors, \
      head.safetensors), refuses broken ones without affecting the rest, and picks up new or \
      changed versions every --reload-interval seconds and on SIGHUP. The default version is the \
      newest (manifest created_at) unless the repository's DEFAULT file names one. Prints \
      "bct-encoder listening on HOST:PORT" once serving; SIGTERM or SIGINT shut it down gracefully.
      """,
    version: "0.2.0"
  )

  @Option(help: "Model repository folder. Env BCT_MODELS.")
  var models: String = EnvironmentDefault.string("BCT_MODELS", "models")

  @Option(help: "Address to listen on. Env BCT_HOST.")
  var host: String = EnvironmentDefault.string("BCT_HOST", "0.0.0.0")

  @Option(help: "gRPC port (0 picks a free one). Env BCT_PORT.")
  var port: Int = EnvironmentDefault.int("BCT_PORT", 50051)

  @Option(help: "Prometheus /metrics port (0 picks a free one). Env BCT_METRICS_PORT (-1 disables).")
  var metricsPort: Int = EnvironmentDefault.int("BCT_METRICS_PORT", 9091)

  @Option(help: "Most inputs in one forward pass and in one request. Env BCT_MAX_BATCH.")
  var maxBatch: Int = EnvironmentDefault.int("BCT_MAX_BATCH", 256)

  @Option(help: "Microseconds a request waits for others to share its forward pass. Env BCT_MAX_WAIT_US.")
  var maxWaitUs: Int = EnvironmentDefault.int("BCT_MAX_WAIT_US", 1000)

  @Option(help: "Most inputs waiting for a forward pass; beyond it RESOURCE_EXHAUSTED. Env BCT_MAX_QUEUE.")
  var maxQueue: Int = EnvironmentDefault.int("BCT_MAX_QUEUE", 4096)

  @Option(help: "Seconds between scans of the repository (0: only on SIGHUP). Env BCT_RELOAD_INTERVAL.")
  var reloadInterval: Double = EnvironmentDefault.double("BCT_RELOAD_INTERVAL", 5)

  @Option(help: """
    OpenBLAS threads per GEMM. 1 (default): each forward pass spreads its batch over \
    every core itself, faster for batches; 0 keeps OpenBLAS's own setting \
    (OPENBLAS_NUM_THREADS). Env BCT_BLAS_THREADS.
    """)
  var blasThreads: Int = EnvironmentDefault.int("BCT_BLAS_THREADS", 1)

  @Flag(help: "Serve no /metrics endpoint.")
  var noMetrics = false

  @OptionGroup var server: ServerOptions

  @OptionGroup var security: SecurityOptions

  func validate() throws {
    try validatePort(port, flag: "--port")
    try ServiceRunner.validateMetricsPort(metricsPort)
    guard maxBatch >= 1 else { throw ValidationError("--max-batch must be at least 1; got \(maxBatch)") }
    guard maxWaitUs >= 0 else { throw ValidationError("--max-wait-us must be 0 or more; got \(maxWaitUs)") }
    guard maxQueue >= maxBatch else {
      throw ValidationError("--max-queue (\(maxQueue)) must be at least --max-batch (\(maxBatch))")
    }
    guard blasThreads >= 0 else { throw ValidationError("--blas-threads must be 0 or more; got \(blasThreads)") }
    guard reloadInterval >= 0, reloadInterval <= 86_400 else { throw ValidationError("--reload-interval must be 0 (off) to 86400 seconds; got \(reloadInterval)") }
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: models, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw ValidationError("--models \(models) is not a folder; point it at a model repository (bct train --out DIR/VERSION)")
    }
  }

  func run() async throws {
    let logger = server.logger(label: "bct-encoder")
    let telemetry = try Telemetry.make(serviceName: "bct-encoder")
    if blasThreads > 0 { BLAS.setThreadCount(blasThreads) }
    logger.info("forward passes: OpenBLAS \(BLAS.coreName) kernels, \(BLAS.threadCount) BLAS thread(s), \(processorCount) cores")
    let metrics = ServiceMetrics(service: "encoder")
    let health = HealthStatusStore(services: ["bct.v1.Encoder"])
    let registry = ModelRegistry(directory: URL(fileURLWithPath: models), logger: logger)
    let watcher = ModelWatcher(
      registry: registry, interval: reloadInterval > 0 ? .seconds(reloadInterval) : nil, health: health,
      serviceName: "bct.v1.Encoder", metrics: metrics, logger: logger)
    watcher.refresh()
    let batcher = EmbeddingBatcher(
      limits: .init(maxBatch: maxBatch, maxWait: .microseconds(maxWaitUs), maxQueuedRows: maxQueue),
      metrics: metrics, logger: logger)
    let grpc = GRPCServerService(
      name: "bct-encoder", host: host, port: port, options: server, security: security,
      services: [EncoderService(
        registry: registry, batcher: batcher, metrics: metrics, maxMessageBytes: server.maxMessageBytes, logger: logger)],
      serviceNames: ["bct.v1.Encoder"], health: health, telemetry: telemetry, logger: logger)
    try await ServiceRunner.run(
      name: "bct-encoder", host: host, metricsPort: noMetrics ? -1 : metricsPort, metrics: metrics, server: server,
      background: [watcher, batcher], grpc: grpc, telemetry: telemetry, logger: logger)
  }
}
