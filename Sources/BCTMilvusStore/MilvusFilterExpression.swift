import BCTCollection
import BCTMilvus
import Foundation

/// A metadata filter as a Milvus boolean expression over a row's JSON body: string
/// tests read `metadata["metadata"][KEY]` (the caller's values), ranges read
/// `metadata["numbers"][KEY]` (the values that spell numbers, written beside them).
/// Every key and value is a quoted, escaped literal (`MilvusClient.quoted`), so no
/// metadata can change the expression's structure; Milvus 2.3's rules for missing
/// keys (a comparison is false, `not` of it true) match `MetadataFilter.matches`.
enum MilvusFilterExpression {
  /// The expression for `filter`.
  static func expression(_ filter: MetadataFilter) -> String {
    switch filter {
    case .equals(let key, let value): "\(text(key)) == \(MilvusClient.quoted(value))"
    case .oneOf(let key, let values): "\(text(key)) in [" + values.sorted().map(MilvusClient.quoted).joined(separator: ",") + "]"
    case .range(let key, let lower, let upper):
      ([lower.map { "\(number(key)) \($0.inclusive ? ">=" : ">") \(literal($0.value))" },
        upper.map { "\(number(key)) \($0.inclusive ? "<=" : "<") \(literal($0.value))" }] as [String?])
        .compactMap { $0 }.joined(separator: " and ")
    case .hasKey(let key): "exists \(text(key))"
    case .all(let filters): filters.map { "(\(expression($0)))" }.joined(separator: " and ")
    case .any(let filters): filters.map { "(\(expression($0)))" }.joined(separator: " or ")
    case .not(let inner): "not (\(expression(inner)))"
    }
  }

  /// Whether `filter` compares numbers (needs rows that carry `numbers`).
  static func readsNumbers(_ filter: MetadataFilter) -> Bool {
    switch filter {
    case .range: true
    case .equals, .oneOf, .hasKey: false
    case .all(let filters), .any(let filters): filters.contains(where: readsNumbers)
    case .not(let inner): readsNumbers(inner)
    }
  }

  private static func text(_ key: String) -> String {
    "\(MilvusDocumentCollection.metadataField)[\"metadata\"][\(MilvusClient.quoted(key))]"
  }

  private static func number(_ key: String) -> String {
    "\(MilvusDocumentCollection.metadataField)[\"numbers\"][\(MilvusClient.quoted(key))]"
  }

  /// A finite double as an expression literal that reads back as the same value.
  static func literal(_ value: Double) -> String {
    var text = "\(value)"
    if text.hasSuffix(".0") { text.removeLast(2) }
    return text
  }
}
