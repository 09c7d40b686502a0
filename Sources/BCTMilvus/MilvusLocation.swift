import BCTClient

/// Where a Milvus store lives, written `milvus://HOST:PORT[/PREFIX]`: the server's
/// gRPC address and a prefix for every collection bct creates there (so several
/// catalogues can share one Milvus).
public struct MilvusLocation: Sendable, Hashable, CustomStringConvertible {
  /// The Milvus server's gRPC address.
  public var address: ServiceAddress
  /// Prepended to collection names; letters, digits and underscores, starting with a letter.
  public var prefix: String

  /// The default prefix when the location names none.
  public static let defaultPrefix = "bct"

  /// A location from its parts.
  public init(address: ServiceAddress, prefix: String = Self.defaultPrefix) throws {
    guard Self.isValidName(prefix), prefix.count <= 64 else {
      throw MilvusLocationError(
        text: prefix, reason: "the prefix must be 1-64 letters, digits or underscores, starting with a letter")
    }
    self.address = address
    self.prefix = prefix
  }

  /// Parses `milvus://HOST:PORT[/PREFIX]`.
  public init(parsing text: String) throws {
    let scheme = "milvus://"
    guard text.hasPrefix(scheme) else {
      throw MilvusLocationError(text: text, reason: "expected milvus://HOST:PORT[/PREFIX]")
    }
    let rest = text.dropFirst(scheme.count)
    let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
    let address: ServiceAddress
    do {
      address = try ServiceAddress(parsing: String(parts[0]))
    } catch {
      throw MilvusLocationError(text: text, reason: "expected milvus://HOST:PORT[/PREFIX]")
    }
    let prefix = parts.count > 1 && !parts[1].isEmpty ? String(parts[1]) : Self.defaultPrefix
    try self.init(address: address, prefix: prefix)
  }

  public var description: String { "milvus://\(address)/\(prefix)" }

  /// The location of the same server with `suffix` (letters, digits, underscores)
  /// appended to the prefix after an underscore; may exceed the 64 characters a
  /// parsed prefix is limited to.
  public func nested(_ suffix: String) -> MilvusLocation {
    var copy = self
    copy.prefix = "\(prefix)_\(suffix)"
    return copy
  }

  /// Whether `name` is a Milvus collection or field name: a letter, then letters, digits or underscores.
  public static func isValidName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first.isASCIILetter else { return false }
    return name.unicodeScalars.allSatisfy { $0.isASCIILetter || ("0"..."9").contains($0) || $0 == "_" }
  }
}

/// A malformed Milvus location.
public struct MilvusLocationError: Error, CustomStringConvertible {
  /// What was given.
  public let text: String
  /// What is wrong with it.
  public let reason: String
  public var description: String { "\"\(text)\" is not a Milvus location: \(reason)" }
}

extension Unicode.Scalar {
  fileprivate var isASCIILetter: Bool { ("a"..."z").contains(self) || ("A"..."Z").contains(self) }
}
