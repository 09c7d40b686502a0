/// A set of small integer keys (document ordinals) as a bitset: what a metadata
/// filter evaluates to in the memory store, and what indexes test their vectors'
/// keys against. `and`, `or` and `not` cost one pass over the words.
public struct DocumentBits: Sendable, Equatable {
  public private(set) var words: [UInt64]

  /// An empty set with room for ordinals `0..<capacity`.
  public init(capacity: Int) {
    words = [UInt64](repeating: 0, count: (capacity + 63) / 64)
  }

  /// Ordinals `0..<capacity` the set can hold.
  public var capacity: Int { words.count * 64 }

  /// How many ordinals are in the set.
  public var count: Int { words.reduce(0) { $0 + $1.nonzeroBitCount } }

  public func contains(_ ordinal: Int) -> Bool {
    ordinal >= 0 && ordinal < capacity && words[ordinal >> 6] & (1 << UInt64(ordinal & 63)) != 0
  }

  public mutating func insert(_ ordinal: Int) {
    if ordinal >= capacity { words.append(contentsOf: repeatElement(0, count: ordinal / 64 + 1 - words.count)) }
    words[ordinal >> 6] |= 1 << UInt64(ordinal & 63)
  }

  /// Inserts every ordinal of `members` (ordinals outside `0..<capacity` are skipped).
  public mutating func insert(members: [Int32]) {
    let limit = capacity
    words.withUnsafeMutableBufferPointer { w in
      members.withUnsafeBufferPointer { list in
        for ordinal in list where ordinal >= 0 && Int(ordinal) < limit {
          w[Int(ordinal) >> 6] |= 1 << UInt64(ordinal & 63)
        }
      }
    }
  }

  public mutating func remove(_ ordinal: Int) {
    guard ordinal < capacity else { return }
    words[ordinal >> 6] &= ~(1 << UInt64(ordinal & 63))
  }

  /// Ordinals in both sets.
  public func intersection(_ other: DocumentBits) -> DocumentBits {
    combined(other) { $0 & $1 }
  }

  /// Ordinals in either set.
  public func union(_ other: DocumentBits) -> DocumentBits {
    combined(other) { $0 | $1 }
  }

  /// Ordinals of `universe` not in this set.
  public func complement(in universe: DocumentBits) -> DocumentBits {
    universe.combined(self) { $0 & ~$1 }
  }

  private func combined(_ other: DocumentBits, _ op: (UInt64, UInt64) -> UInt64) -> DocumentBits {
    var out = DocumentBits(capacity: max(capacity, other.capacity))
    for i in out.words.indices {
      out.words[i] = op(i < words.count ? words[i] : 0, i < other.words.count ? other.words[i] : 0)
    }
    return out
  }

  /// The ordinals in the set, ascending.
  public var ordinals: [Int] {
    var out: [Int] = []
    for (i, word) in words.enumerated() where word != 0 {
      var w = word
      while w != 0 {
        out.append(i * 64 + w.trailingZeroBitCount)
        w &= w - 1
      }
    }
    return out
  }
}
