import BCTIndex

/// A store's sizes for Stats.
public struct StoreStatistics: Sendable {
  /// What searches run on, in words (e.g. "flat-ip (exact inner product, OpenBLAS)").
  public var indexKind: String
  /// Index parameters and size per searched version.
  public var segments: [String: IndexDescription]
  /// Bytes of raw inputs kept.
  public var rawInputBytes: Int
  /// Bytes of metadata and ids kept.
  public var metadataBytes: Int
  /// The sequence number of the last change.
  public var sequence: UInt64

  /// Statistics.
  public init(indexKind: String, segments: [String: IndexDescription], rawInputBytes: Int, metadataBytes: Int, sequence: UInt64) {
    self.indexKind = indexKind
    self.segments = segments
    self.rawInputBytes = rawInputBytes
    self.metadataBytes = metadataBytes
    self.sequence = sequence
  }
}
