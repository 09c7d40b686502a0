

/// Request limits of the retrieval service (all flags of `bct-retrieval`).
public struct RetrievalLimits: Sendable {
  /// Most documents per Upsert.
  public var maxUpsert = 1024
  /// Most queries per Search.
  public var maxQueries = 256
  /// Largest k.
  public var maxK = 1000
  /// Longest id in UTF-8 bytes.
  public var maxIDBytes = 512
  /// Most metadata bytes (keys + values) per document.
  public var maxMetadataBytes = 16384
  /// Largest request tensor payload in bytes.
  public var maxMessageBytes = 64 << 20
  /// Largest Search reply: ids, metadata and per-hit fields of every hit, in bytes.
  public var maxReplyBytes = 64 << 20

  /// Largest per-request HNSW candidate list (`ef_search`): beyond it a search
  /// costs about as much as an exact scan, and the list's memory grows with it.
  public static let maxEfSearch: UInt32 = 10_000

  /// The defaults.
  public init() {}
}
