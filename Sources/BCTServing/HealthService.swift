import BCTProto
import Foundation
import GRPCCore
import Synchronization

/// The serving status of each service name a process reports through
/// `grpc.health.v1.Health`; "" is the whole process.
public final class HealthStatusStore: Sendable {
  /// A service's status, as the health protocol names it.
  public typealias Status = Grpc_Health_V1_HealthCheckResponse.ServingStatus

  private struct Watcher {
    let service: String
    let continuation: AsyncStream<Status>.Continuation
  }

  private struct State {
    var statuses: [String: Status] = [:]
    var watchers: [Int: Watcher] = [:]
    var nextWatcher = 0
    var closed = false
  }

  private let state = Mutex(State())

  /// A store that reports `services` (and "") as NOT_SERVING until told otherwise.
  public init(services: [String]) {
    state.withLock { state in
      for service in services + [""] { state.statuses[service] = .notServing }
    }
  }

  /// Sets the status of `service` and of every watcher of it.
  public func set(_ status: Status, for service: String) {
    state.withLock { state in
      guard !state.closed else { return }
      state.statuses[service] = status
      for watcher in state.watchers.values where watcher.service == service {
        watcher.continuation.yield(status)
      }
    }
  }

  /// Sets every known service, and the process, to `status`.
  public func setAll(_ status: Status) {
    let services = state.withLock { Array($0.statuses.keys) }
    for service in services { set(status, for: service) }
  }

  /// The known service names that start with `prefix`.
  public func services(prefixed prefix: String) -> [String] {
    state.withLock { $0.statuses.keys.filter { $0.hasPrefix(prefix) }.sorted() }
  }

  /// The status of `service`, or nil if it is not known.
  public func status(of service: String) -> Status? {
    state.withLock { $0.statuses[service] }
  }

  /// The status of `service` now (SERVICE_UNKNOWN if not known), then each change,
  /// until the store is closed or the consumer stops.
  public func updates(of service: String) -> AsyncStream<Status> {
    let (stream, continuation) = AsyncStream<Status>.makeStream(bufferingPolicy: .bufferingNewest(8))
    let id = state.withLock { state -> Int? in
      guard !state.closed else { return nil }
      continuation.yield(state.statuses[service] ?? .serviceUnknown)
      let id = state.nextWatcher
      state.nextWatcher += 1
      state.watchers[id] = Watcher(service: service, continuation: continuation)
      return id
    }
    guard let id else {
      continuation.yield(.notServing)
      continuation.finish()
      return stream
    }
    continuation.onTermination = { [weak self] _ in
      self?.state.withLock { _ = $0.watchers.removeValue(forKey: id) }
    }
    return stream
  }

  /// Reports NOT_SERVING to every watcher and ends their streams, so that open
  /// Watch calls do not hold up a graceful shutdown.
  public func close() {
    let watchers = state.withLock { state -> [Watcher] in
      state.closed = true
      for key in state.statuses.keys { state.statuses[key] = .notServing }
      defer { state.watchers.removeAll() }
      return Array(state.watchers.values)
    }
    for watcher in watchers {
      watcher.continuation.yield(.notServing)
      watcher.continuation.finish()
    }
  }
}

/// `grpc.health.v1.Health` over a `HealthStatusStore`.
public struct HealthService: Grpc_Health_V1_Health.SimpleServiceProtocol {
  private let store: HealthStatusStore

  /// Serves the statuses in `store`.
  public init(store: HealthStatusStore) {
    self.store = store
  }

  public func check(
    request: Grpc_Health_V1_HealthCheckRequest, context: ServerContext
  ) async throws -> Grpc_Health_V1_HealthCheckResponse {
    guard let status = store.status(of: request.service) else {
      throw RPCError(code: .notFound, message: "unknown service \"\(request.service)\"")
    }
    var response = Grpc_Health_V1_HealthCheckResponse()
    response.status = status
    return response
  }

  public func watch(
    request: Grpc_Health_V1_HealthCheckRequest,
    response: RPCWriter<Grpc_Health_V1_HealthCheckResponse>,
    context: ServerContext
  ) async throws {
    var last: HealthStatusStore.Status?
    for await status in store.updates(of: request.service) where status != last {
      var message = Grpc_Health_V1_HealthCheckResponse()
      message.status = status
      try await response.write(message)
      last = status
    }
  }
}
