/// A Search reply over the caller's size limit (RESOURCE_EXHAUSTED at the edge).
public struct ReplyTooLarge: Error, Sendable, Equatable {
  /// Hits in the reply.
  public var hits: Int
  /// Bytes counted when the limit was passed (a lower bound of the whole).
  public var bytes: Int
  /// The limit.
  public var limit: Int

  /// A reply of `hits` hits, at least `bytes` bytes, over `limit`.
  public init(hits: Int, bytes: Int, limit: Int) {
    self.hits = hits
    self.bytes = bytes
    self.limit = limit
  }
}
