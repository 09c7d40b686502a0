import Foundation

/// A condition on a document's metadata (string keys, string values), as a typed
/// tree: stores evaluate it from their own indexes (the memory store) or translate
/// it into their own escaped expression (Milvus), never by pasting text together.
///
/// `equals` and `oneOf` compare strings exactly. `range` reads the value as a
/// decimal number (`MetadataFilter.number(_:)`); a value that is not one, or a
/// missing key, never passes a range.
public indirect enum MetadataFilter: Sendable, Hashable {
  /// The value under `key` is `value`.
  case equals(key: String, value: String)
  /// The value under `key` is one of `values`.
  case oneOf(key: String, values: Set<String>)
  /// The value under `key` is a number within the bounds.
  case range(key: String, lower: Bound?, upper: Bound?)
  /// The metadata holds `key`.
  case hasKey(String)
  /// Every filter passes.
  case all([MetadataFilter])
  /// At least one filter passes.
  case any([MetadataFilter])
  /// The filter does not pass.
  case not(MetadataFilter)

  /// One end of a numeric range.
  public struct Bound: Sendable, Hashable {
    /// The bound, finite.
    public var value: Double
    /// Whether `value` itself passes.
    public var inclusive: Bool

    /// A bound.
    public init(_ value: Double, inclusive: Bool) {
      self.value = value
      self.inclusive = inclusive
    }
  }

  /// Deepest nesting a filter may have.
  public static let maxDepth = 16
  /// Most clauses (nodes) in one filter.
  public static let maxClauses = 1024
  /// Most values in one `oneOf`, and filters in one `all`/`any`.
  public static let maxValues = 1024
  public static let maxChildren = 64

  /// Whether `metadata` passes: the reference semantics every store must match.
  public func matches(_ metadata: [String: String]) -> Bool {
    switch self {
    case .equals(let key, let value): metadata[key] == value
    case .oneOf(let key, let values): metadata[key].map(values.contains) ?? false
    case .range(let key, let lower, let upper):
      metadata[key].flatMap(Self.number).map { Self.within($0, lower: lower, upper: upper) } ?? false
    case .hasKey(let key): metadata[key] != nil
    case .all(let filters): filters.allSatisfy { $0.matches(metadata) }
    case .any(let filters): filters.contains { $0.matches(metadata) }
    case .not(let filter): !filter.matches(metadata)
    }
  }

  /// Whether `number` lies within the bounds.
  public static func within(_ number: Double, lower: Bound?, upper: Bound?) -> Bool {
    if let lower, lower.inclusive ? number < lower.value : number <= lower.value { return false }
    if let upper, upper.inclusive ? number > upper.value : number >= upper.value { return false }
    return true
  }

  /// The number a metadata value spells, as JSON writes numbers (optional minus,
  /// digits without leading zeros, optional fraction and exponent), and finite; nil
  /// for anything else ("1e999", " 1", "+1", "0x10", "NaN", "01").
  public static func number(_ text: String) -> Double? {
    let bytes = Array(text.utf8)
    guard !bytes.isEmpty, bytes.count <= 64, isJSONNumber(bytes), let value = Double(text), value.isFinite else { return nil }
    return value
  }

  private static func isJSONNumber(_ s: [UInt8]) -> Bool {
    var i = 0
    func digits() -> Int {
      let start = i
      while i < s.count, (48...57).contains(s[i]) { i += 1 }
      return i - start
    }
    if s[i] == UInt8(ascii: "-") { i += 1 }
    guard i < s.count else { return false }
    if s[i] == UInt8(ascii: "0") { i += 1 } else if digits() == 0 { return false }
    if i < s.count, s[i] == UInt8(ascii: ".") {
      i += 1
      guard digits() > 0 else { return false }
    }
    if i < s.count, s[i] == UInt8(ascii: "e") || s[i] == UInt8(ascii: "E") {
      i += 1
      if i < s.count, s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-") { i += 1 }
      guard digits() > 0 else { return false }
    }
    return i == s.count
  }

  /// Every metadata key the filter reads.
  public var keys: Set<String> {
    switch self {
    case .equals(let key, _), .oneOf(let key, _), .range(let key, _, _), .hasKey(let key): [key]
    case .all(let filters), .any(let filters): filters.reduce(into: Set<String>()) { $0.formUnion($1.keys) }
    case .not(let filter): filter.keys
    }
  }
}
