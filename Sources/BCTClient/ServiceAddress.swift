/// A `host:port` address of a service.
public struct ServiceAddress: Sendable, Hashable, CustomStringConvertible {
  /// Host name or IPv4 address.
  public var host: String
  /// TCP port.
  public var port: Int

  /// An address from its parts.
  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `host:port` (e.g. `127.0.0.1:50051`, `encoder:50051`).
  public init(parsing text: String) throws {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (1...65535).contains(port), colon != text.startIndex
    else {
      throw ServiceAddressError(text: text)
    }
    self.init(host: String(text[..<colon]), port: port)
  }

  public var description: String { "\(host):\(port)" }

  /// Whether `host` is a dotted IPv4 address rather than a name.
  public var isIPv4Literal: Bool {
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
  }
}

/// A malformed `host:port`.
public struct ServiceAddressError: Error, CustomStringConvertible {
  /// What was given.
  public let text: String
  public var description: String { "\"\(text)\" is not a HOST:PORT address (e.g. 127.0.0.1:50051)" }
}
