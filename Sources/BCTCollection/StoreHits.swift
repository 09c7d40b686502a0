import BCTIndex

public struct StoreHits: Sendable {
  /// The versions searched.
  public var present: [String]
  /// Per query, the best hits first.
  public var hits: [[VersionedIndex.Hit]]
  /// Metadata of every hit's document.
  public var metadata: [String: [String: String]]

  /// Search results.
  public init(present: [String], hits: [[VersionedIndex.Hit]], metadata: [String: [String: String]]) {
    self.present = present
    self.hits = hits
    self.metadata = metadata
  }
}

/// A store's sizes for Stats.

/// What a search found.
extension VersionedIndex.Hit {
  /// Bytes this hit takes in a Search reply: id, version, score and framing,
  /// plus its metadata (map entries cost a few bytes of framing each).
  public func replyBytes(metadata: [String: String]?) -> Int {
    scored.id.utf8.count + version.utf8.count + 16 + Self.replyBytes(of: metadata ?? [:])
  }

  /// Bytes a hit's metadata takes in a Search reply.
  public static func replyBytes(of metadata: [String: String]) -> Int {
    metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 6 }
  }
}
