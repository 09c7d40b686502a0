import BCTRuntime
import GRPCCore
import Prometheus

/// The Prometheus metrics one service process exposes on `/metrics`.
///
/// Owns its collector registry (no process-global metrics system), so that tests
/// and several services in one process never share counters.
public struct ServiceMetrics: Sendable {
  /// The registry `/metrics` renders.
  public let registry: PrometheusCollectorRegistry
  private let service: String

  /// Latency buckets for RPC durations, 100 µs to 10 s.
  public static let latencyBuckets: [Duration] = [
    .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .milliseconds(2.5),
    .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
    .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(10),
  ]

  /// Metrics for the service named `service` (e.g. "encoder"), a label on every RPC metric.
  public init(service: String, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
    self.registry = registry
    self.service = service
  }

  /// Records one finished RPC: its method, the model version it used ("" when none),
  /// any further `labels`, its status code name and how long it took.
  public func recordRPC(method: String, version: String, labels extra: [(String, String)] = [], code: String, duration: Duration) {
    let labels = [("service", service), ("method", method), ("version", version)] + extra
    counter("bct_rpc_requests_total", help: "Finished RPCs by method, model version and status code.",
            labels: labels + [("code", code)]).increment()
    registry.makeDurationHistogram(
      descriptor: Self.descriptor("bct_rpc_duration_seconds", help: "RPC latency by method and model version."),
      labels: labels, buckets: Self.latencyBuckets
    ).record(duration)
  }

  /// Runs `body` as the RPC `method` and records its outcome and latency under `labels` too.
  public func measure<Result>(
    method: String, version: String, labels: [(String, String)] = [], _ body: () async throws -> Result
  ) async throws -> Result {
    let start = ContinuousClock.now
    do {
      let result = try await body()
      recordRPC(method: method, version: version, labels: labels, code: "ok", duration: .now - start)
      return result
    } catch {
      recordRPC(method: method, version: version, labels: labels, code: Self.codeName(of: error), duration: .now - start)
      throw error
    }
  }

  /// A gauge with the given name and labels.
  public func gauge(_ name: String, help: String, labels: [(String, String)] = []) -> Gauge {
    registry.makeGauge(descriptor: Self.descriptor(name, help: help), labels: labels)
  }

  /// A counter with the given name and labels.
  public func counter(_ name: String, help: String, labels: [(String, String)] = []) -> Counter {
    registry.makeCounter(descriptor: Self.descriptor(name, help: help), labels: labels)
  }

  /// A histogram of plain values (batch sizes, counts) with the given buckets.
  public func histogram(
    _ name: String, help: String, buckets: [Double], labels: [(String, String)] = []
  ) -> ValueHistogram {
    registry.makeValueHistogram(descriptor: Self.descriptor(name, help: help), labels: labels, buckets: buckets)
  }

  private static func descriptor(_ name: String, help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, unitName: "", helpText: help)
  }

  /// The metrics in Prometheus text exposition format.
  public func exposition() -> String {
    registry.emitToString()
  }

  /// The gRPC status code name of an error, snake case (e.g. "invalid_argument").
  public static func codeName(of error: any Error) -> String { StatusName.of(error) }
}
