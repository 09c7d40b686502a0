import Foundation
import Instrumentation
import Logging
import OTel
import ServiceLifecycle
import Tracing
import W3CTraceContext

/// A process's tracing, from the ecosystem: OpenTelemetry's tracer (swift-otel),
/// W3C trace context in and out of every call, trace and span ids on every log
/// line, and spans exported over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` (or
/// `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; nothing is exported otherwise. The
/// tracer is passed to the interceptors, never installed globally; `service` runs
/// beside the process's other services and flushes the spans when it stops.
public struct Telemetry: Sendable {
  /// The tracer spans are started with.
  public let tracer: any Tracer
  /// The span processor and exporter, to run in the process's service group.
  public let service: any Service
  /// Whether spans leave the process.
  public let exporting: Bool

  /// The telemetry of the service `serviceName`, configured by the standard OpenTelemetry
  /// environment variables (`OTEL_EXPORTER_OTLP_*`, `OTEL_BSP_*`, `OTEL_TRACES_SAMPLER`).
  public static func make(serviceName: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Telemetry {
    let endpoint = environment["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? environment["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? ""
    var configuration = OTel.Configuration.default
    configuration.serviceName = serviceName
    configuration.diagnosticLogLevel = .warning
    configuration.logs.enabled = false
    configuration.metrics.enabled = false
    configuration.propagators = [.traceContext]
    configuration.traces.exporter = endpoint.isEmpty ? .none : .otlp
    configuration.traces.otlpExporter.protocol = .grpc
    let (tracer, service) = try OTel.makeTracingBackend(configuration: configuration)
    return Telemetry(tracer: tracer, service: service, exporting: !endpoint.isEmpty)
  }

  /// Adds the current span's `trace_id` and `span_id` to every log line.
  public static let metadataProvider: Logger.MetadataProvider = OTel.makeLoggingMetadataProvider()

  /// Runs `body` in a new span `name` of `kind`, child of `context`.
  public func withSpan<Result>(
    _ name: String, context: InstrumentationContext, ofKind kind: SpanKind,
    _ body: (any Span) async throws -> Result
  ) async rethrows -> Result {
    try await Self.withSpan(tracer, name, context: context, kind: kind, body)
  }

  private static func withSpan<T: Tracer, Result>(
    _ tracer: T, _ name: String, context: InstrumentationContext, kind: SpanKind,
    _ body: (any Span) async throws -> Result
  ) async rethrows -> Result {
    try await tracer.withSpan(name, context: context, ofKind: kind) { span in try await body(span) }
  }

  /// A new span `name` of `kind`, child of `context`; the caller ends it.
  public func startSpan(_ name: String, context: InstrumentationContext, ofKind kind: SpanKind) -> any Span {
    Self.startSpan(tracer, name, context: context, kind: kind)
  }

  private static func startSpan<T: Tracer>(_ tracer: T, _ name: String, context: InstrumentationContext, kind: SpanKind) -> any Span {
    tracer.startSpan(name, context: context, ofKind: kind)
  }

  /// Runs `body` with the span processor running beside it, then stops the
  /// processor, which exports what is left (a short-lived process, like the CLI).
  public func running<Result: Sendable>(_ body: () async throws -> Result) async throws -> Result {
    let group = ServiceGroup(services: [service], logger: Logger(label: "bct-telemetry") { _ in SwiftLogNoOpLogHandler() })
    return try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      let result: Result
      do {
        result = try await body()
      } catch {
        await group.triggerGracefulShutdown()
        try? await tasks.waitForAll()
        throw error
      }
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
      return result
    }
  }

  /// Whether `header` is a valid W3C `traceparent` (version 00: 55 characters, lowercase hex, ids not all zeros).
  public static func isTraceparent(_ header: String) -> Bool {
    (try? W3CTraceContext.TraceContext(traceParentHeaderValue: header)) != nil
  }

  /// The context a `traceparent` (and `tracestate`) in `headers` continues; `.topLevel` when there is none.
  public func context(continuing headers: [String: String]) -> InstrumentationContext {
    var context = InstrumentationContext.topLevel
    tracer.extract(headers, into: &context, using: DictionaryPropagation())
    return context
  }
}

/// W3C trace context headers in a dictionary (the CLI's `TRACEPARENT`).
struct DictionaryPropagation: Extractor, Injector {
  func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
  func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
