import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import Synchronization

/// A minimal HTTP/1.1 server for Prometheus: `GET /metrics` renders the service's
/// metrics in text exposition format; `GET /healthz` answers "ok"; anything else 404.
/// One request per connection; a connection that sends no complete request
/// within `idleTimeout` is closed, and at most `maxConnections` are open at once
/// (more are closed as they arrive), so idle sockets cannot exhaust the
/// process's file descriptors.
public struct MetricsHTTPServer: Service {
  private let host: String
  private let port: Int
  private let metrics: ServiceMetrics
  private let logger: Logger
  private let idleTimeout: TimeAmount
  private let maxConnections: Int
  private let onBound: @Sendable (Int) -> Void

  /// A server for `metrics` on `host:port` (port 0 picks a free one, reported to `onBound`).
  public init(
    host: String, port: Int, metrics: ServiceMetrics, logger: Logger, idleTimeout: TimeAmount = .seconds(10),
    maxConnections: Int = 64, onBound: @escaping @Sendable (Int) -> Void = { _ in }
  ) {
    self.host = host
    self.port = port
    self.metrics = metrics
    self.logger = logger
    self.idleTimeout = idleTimeout
    self.maxConnections = maxConnections
    self.onBound = onBound
  }

  public func run() async throws {
    let metrics = self.metrics
    let (idleTimeout, limit) = (self.idleTimeout, maxConnections)
    let open = ConnectionCount()
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.backlog, value: 64)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { channel in
        guard open.enter(limit: limit) else { return channel.close() }
        channel.closeFuture.whenComplete { _ in open.leave() }
        return channel.pipeline.addHandler(IdleStateHandler(allTimeout: idleTimeout)).flatMap {
          channel.pipeline.configureHTTPServerPipeline()
        }.flatMap {
          channel.pipeline.addHandler(MetricsHandler(metrics: metrics))
        }
      }
      .bind(host: host, port: port)
      .get()
    let bound = channel.localAddress?.port ?? port
    logger.info("metrics listening", metadata: ["address": "http://\(host):\(bound)/metrics"])
    onBound(bound)
    try? await gracefulShutdown()
    try? await channel.close()
  }
}

/// Open connections of one server.
private final class ConnectionCount: Sendable {
  private let count = Mutex(0)

  /// Counts one more connection if fewer than `limit` are open.
  func enter(limit: Int) -> Bool {
    count.withLock { count in
      guard count < limit else { return false }
      count += 1
      return true
    }
  }

  func leave() { count.withLock { $0 -= 1 } }
}

private final class MetricsHandler: ChannelInboundHandler, Sendable {
  typealias InboundIn = HTTPServerRequestPart
  typealias OutboundOut = HTTPServerResponsePart

  private let metrics: ServiceMetrics

  init(metrics: ServiceMetrics) { self.metrics = metrics }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if event is IdleStateHandler.IdleStateEvent {
      context.close(promise: nil)
    } else {
      context.fireUserInboundEventTriggered(event)
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard case .head(let request) = unwrapInboundIn(data) else { return }
    let (status, body, type): (HTTPResponseStatus, String, String)
    switch (request.method, request.uri.split(separator: "?").first.map(String.init) ?? request.uri) {
    case (.GET, "/metrics"):
      (status, body, type) = (.ok, metrics.exposition(), "text/plain; version=0.0.4; charset=utf-8")
    case (.GET, "/healthz"):
      (status, body, type) = (.ok, "ok\n", "text/plain")
    default:
      (status, body, type) = (.notFound, "not found; try GET /metrics\n", "text/plain")
    }
    var headers = HTTPHeaders()
    headers.add(name: "content-type", value: type)
    headers.add(name: "content-length", value: String(body.utf8.count))
    headers.add(name: "connection", value: "close")
    context.write(wrapOutboundOut(.head(HTTPResponseHead(version: request.version, status: status, headers: headers))), promise: nil)
    context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
  }
}
