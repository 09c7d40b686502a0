import BCTCollection
import BCTIndex

/// The memory store's index of metadata for filtered search and listing: every
/// document has a small ordinal, and every (key, value) pair a posting set of
/// ordinals, with the value read as a number once. A filter evaluates to a
/// `DocumentBits` from the postings it names (work in proportion to the documents
/// those postings hold, plus one pass over the bitset words per combinator),
/// never by reading every document's metadata.
public struct MetadataIndex: Sendable {
  private var ordinalOf: [String: Int] = [:]
  private var idAt: [String?] = []
  private var freeOrdinals: [Int] = []
  private var live = DocumentBits(capacity: 0)
  private var postings: [String: [String: Posting]] = [:]
  /// Documents holding each key.
  private var keyCounts: [String: Int] = [:]

  /// The documents holding one value under one key: their ordinals back to back
  /// (what evaluation reads), and each one's place among them (so a removal moves
  /// the last one into the gap).
  struct Posting: Sendable {
    /// The value as a number, if it spells one.
    var number: Double?
    var members: [Int32] = []
    var place: [Int32: Int32] = [:]

    init(_ value: String) { number = MetadataFilter.number(value) }

    mutating func insert(_ ordinal: Int) {
      let key = Int32(ordinal)
      guard place[key] == nil else { return }
      place[key] = Int32(members.count)
      members.append(key)
    }

    mutating func remove(_ ordinal: Int) {
      guard let at = place.removeValue(forKey: Int32(ordinal)) else { return }
      let last = members.removeLast()
      if Int(at) < members.count {
        members[Int(at)] = last
        place[last] = at
      }
    }
  }

  /// An empty index.
  public init() {}

  /// Documents indexed.
  public var count: Int { ordinalOf.count }

  /// Indexes `metadata` for `id`, replacing what `previous` indexed for it.
  mutating func set(_ id: String, metadata: [String: String], previous: [String: String]?) {
    let ordinal: Int
    if let held = ordinalOf[id] {
      ordinal = held
      unpost(ordinal, previous ?? [:])
    } else {
      ordinal = freeOrdinals.popLast() ?? idAt.count
      if ordinal == idAt.count { idAt.append(id) } else { idAt[ordinal] = id }
      ordinalOf[id] = ordinal
      live.insert(ordinal)
    }
    for (key, value) in metadata {
      postings[key, default: [:]][value, default: Posting(value)].insert(ordinal)
      keyCounts[key, default: 0] += 1
    }
  }

  /// Forgets `id`, which was indexed with `metadata`.
  mutating func remove(_ id: String, metadata: [String: String]) {
    guard let ordinal = ordinalOf.removeValue(forKey: id) else { return }
    unpost(ordinal, metadata)
    idAt[ordinal] = nil
    freeOrdinals.append(ordinal)
    live.remove(ordinal)
  }

  private mutating func unpost(_ ordinal: Int, _ metadata: [String: String]) {
    for (key, value) in metadata {
      postings[key]?[value]?.remove(ordinal)
      keyCounts[key]? -= 1
      if keyCounts[key] == 0 { keyCounts[key] = nil }
      if postings[key]?[value]?.members.isEmpty == true { postings[key]?[value] = nil }
      if postings[key]?.isEmpty == true { postings[key] = nil }
    }
  }

  /// The documents `filter` lets through.
  func evaluate(_ filter: MetadataFilter) -> DocumentBits {
    switch evaluated(filter) {
    case .only(let bits): bits
    case .allBut(let bits): bits.complement(in: live)
    }
  }

  /// A filter's documents as the postings read: those passing, or (when cheaper to
  /// read) those failing. Reading a posting costs per member; `and`, `or` and `not`
  /// over either form cost a pass over the words (De Morgan), so a permissive
  /// filter reads its few failing postings instead of its many passing ones.
  private enum Evaluated {
    case only(DocumentBits)
    case allBut(DocumentBits)

    var negated: Evaluated {
      switch self {
      case .only(let bits): .allBut(bits)
      case .allBut(let bits): .only(bits)
      }
    }

    func and(_ other: Evaluated) -> Evaluated {
      switch (self, other) {
      case (.only(let a), .only(let b)): .only(a.intersection(b))
      case (.only(let a), .allBut(let b)), (.allBut(let b), .only(let a)): .only(b.complement(in: a))
      case (.allBut(let a), .allBut(let b)): .allBut(a.union(b))
      }
    }

    func or(_ other: Evaluated) -> Evaluated { negated.and(other.negated).negated }
  }

  private func evaluated(_ filter: MetadataFilter) -> Evaluated {
    switch filter {
    case .equals(let key, let value): listed(key, [value])
    case .oneOf(let key, let values): listed(key, values)
    case .range(let key, let lower, let upper):
      scanned(key) { posting in posting.number.map { MetadataFilter.within($0, lower: lower, upper: upper) } ?? false }
    case .hasKey(let key): keyCounts[key] == ordinalOf.count ? .allBut(empty) : scanned(key) { _ in true }
    case .all(let filters): filters.dropFirst().reduce(evaluated(filters[0])) { $0.and(evaluated($1)) }
    case .any(let filters): filters.dropFirst().reduce(evaluated(filters[0])) { $0.or(evaluated($1)) }
    case .not(let inner): evaluated(inner).negated
    }
  }

  private var empty: DocumentBits { DocumentBits(capacity: idAt.count) }

  /// The documents whose value under `key` is one of `values`, looked up directly; as
  /// all but the others when those are fewer and every document has the key.
  private func listed(_ key: String, _ values: Set<String>) -> Evaluated {
    let held = postings[key] ?? [:]
    let chosen = values.compactMap { held[$0] }
    let passing = chosen.reduce(0) { $0 + $1.members.count }
    guard keyCounts[key] == ordinalOf.count, ordinalOf.count - passing < passing else { return .only(bits(chosen.map(\.members))) }
    return .allBut(bits(held.filter { !values.contains($0.key) }.map(\.value.members)))
  }

  /// The documents whose posting under `key` passes, every posting of the key asked
  /// once; as all but the failing ones when those are fewer and every document has the
  /// key (then asked again, for the failing side).
  private func scanned(_ key: String, _ passes: (Posting) -> Bool) -> Evaluated {
    let held = postings[key] ?? [:]
    let passing = held.values.filter(passes)
    let count = passing.reduce(0) { $0 + $1.members.count }
    guard keyCounts[key] == ordinalOf.count, ordinalOf.count - count < count else { return .only(bits(passing.map(\.members))) }
    return .allBut(bits(held.values.filter { !passes($0) }.map(\.members)))
  }

  private func bits(_ lists: [[Int32]]) -> DocumentBits {
    var out = empty
    for members in lists { out.insert(members: members) }
    return out
  }

  /// The documents `filter` lets through as an index filter (key bits, membership by
  /// id, and the passing ids listed from the bitset); nil when every document passes,
  /// so that the search runs unfiltered.
  public func idFilter(_ filter: MetadataFilter) -> IDFilter? {
    let passing = evaluate(filter)
    guard passing.count < ordinalOf.count else { return nil }
    let ordinalOf = self.ordinalOf, idAt = self.idAt
    return IDFilter(
      count: passing.count, keys: passing, contains: { id in ordinalOf[id].map(passing.contains) ?? false },
      ids: { passing.ordinals.compactMap { idAt[$0] } })
  }

  /// The key (ordinal) of document `id`, which its vectors are indexed under.
  public func key(of id: String) -> Int? { ordinalOf[id] }

  /// Whether document `id` passes `bits`.
  func passes(_ id: String, _ bits: DocumentBits) -> Bool {
    ordinalOf[id].map(bits.contains) ?? false
  }
}
