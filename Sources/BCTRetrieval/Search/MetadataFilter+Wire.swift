import BCTCollection
import BCTProto

extension MetadataFilter {
  /// The filter a request carries, checked: every node has a clause, keys are
  /// non-empty, lists and bounds within limits, ranges finite, and the tree within
  /// `maxDepth` levels and `maxClauses` nodes. `field` names it in errors.
  public init(wire: Bct_V1_Filter, field: String) throws {
    var clauses = 0
    self = try Self.decode(wire, field: field, depth: 1, clauses: &clauses)
  }

  private static func decode(_ wire: Bct_V1_Filter, field: String, depth: Int, clauses: inout Int) throws -> MetadataFilter {
    clauses += 1
    guard depth <= maxDepth else { throw invalid(field, "the filter nests more than \(maxDepth) levels") }
    guard clauses <= maxClauses else { throw invalid(field, "the filter holds more than \(maxClauses) clauses") }
    guard let clause = wire.clause else {
      throw invalid(field, "\(field) sets no clause; set one of equals, one_of, range, key_exists, all_of, any_of, negate")
    }
    switch clause {
    case .equals(let pair):
      return .equals(key: try key(pair.key, field: "\(field).equals"), value: pair.value)
    case .oneOf(let list):
      let key = try key(list.key, field: "\(field).one_of")
      guard (1...maxValues).contains(list.values.count) else {
        throw invalid("\(field).one_of.values", "\(field).one_of holds \(list.values.count) values; it takes 1 to \(maxValues)")
      }
      return .oneOf(key: key, values: Set(list.values))
    case .range(let range):
      return try decodeRange(range, field: "\(field).range")
    case .keyExists(let name):
      return .hasKey(try key(name, field: "\(field).key_exists"))
    case .allOf(let list):
      return .all(try children(list, field: "\(field).all_of", depth: depth, clauses: &clauses))
    case .anyOf(let list):
      return .any(try children(list, field: "\(field).any_of", depth: depth, clauses: &clauses))
    case .negate(let inner):
      return .not(try decode(inner, field: "\(field).negate", depth: depth + 1, clauses: &clauses))
    }
  }

  private static func children(_ list: Bct_V1_FilterList, field: String, depth: Int, clauses: inout Int) throws -> [MetadataFilter] {
    guard (1...maxChildren).contains(list.filters.count) else {
      throw invalid(field, "\(field) holds \(list.filters.count) filters; it takes 1 to \(maxChildren)")
    }
    var out: [MetadataFilter] = []
    for (i, child) in list.filters.enumerated() {
      out.append(try decode(child, field: "\(field).filters[\(i)]", depth: depth + 1, clauses: &clauses))
    }
    return out
  }

  private static func decodeRange(_ range: Bct_V1_NumberRange, field: String) throws -> MetadataFilter {
    let key = try key(range.key, field: field)
    guard range.hasLower || range.hasUpper else { throw invalid(field, "\(field) sets neither lower nor upper") }
    for (name, present, bound) in [("lower", range.hasLower, range.lower), ("upper", range.hasUpper, range.upper)]
    where present && !bound.value.isFinite {
      throw invalid("\(field).\(name)", "\(field).\(name) is \(bound.value); a bound must be a finite number")
    }
    return .range(
      key: key, lower: range.hasLower ? Bound(range.lower.value, inclusive: range.lower.inclusive) : nil,
      upper: range.hasUpper ? Bound(range.upper.value, inclusive: range.upper.inclusive) : nil)
  }

  private static func key(_ key: String, field: String) throws -> String {
    guard !key.isEmpty else { throw invalid("\(field).key", "\(field) names an empty metadata key") }
    return key
  }

  private static func invalid(_ field: String, _ message: String) -> RetrievalError {
    .invalidArgument(field: field, message: message)
  }
}

extension Bct_V1_Filter {
  /// The wire form of `filter`.
  public init(_ filter: MetadataFilter) {
    self.init()
    switch filter {
    case .equals(let key, let value): equals = .with { ($0.key, $0.value) = (key, value) }
    case .oneOf(let key, let values): oneOf = .with { ($0.key, $0.values) = (key, values.sorted()) }
    case .range(let key, let lower, let upper):
      range = .with { wire in
        wire.key = key
        if let lower { wire.lower = .with { ($0.value, $0.inclusive) = (lower.value, lower.inclusive) } }
        if let upper { wire.upper = .with { ($0.value, $0.inclusive) = (upper.value, upper.inclusive) } }
      }
    case .hasKey(let key): keyExists = key
    case .all(let filters): allOf = .with { $0.filters = filters.map(Bct_V1_Filter.init) }
    case .any(let filters): anyOf = .with { $0.filters = filters.map(Bct_V1_Filter.init) }
    case .not(let inner): negate = Bct_V1_Filter(inner)
    }
  }
}
