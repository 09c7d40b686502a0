import GRPCCore
import Instrumentation

/// W3C trace context headers in gRPC metadata, for the tracer's extract and inject.
struct MetadataPropagation: Extractor, Injector {
  func extract(key: String, from carrier: Metadata) -> String? {
    carrier[stringValues: key].first(where: { _ in true })
  }

  func inject(_ value: String, forKey key: String, into carrier: inout Metadata) {
    carrier.replaceOrAddString(value, forKey: key)
  }
}
