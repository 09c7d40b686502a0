import ArgumentParser
import BCTProto
import Foundation
import SwiftProtobuf

/// `--filter` (a bct.v1.Filter in protobuf JSON) and `--where` (simple conditions,
/// all of which must hold), shared by `bct search`, `bct list` and `bct export`.
struct FilterOptions: ParsableArguments {
  @Option(help: ArgumentHelp("A metadata filter as protobuf JSON of bct.v1.Filter, e.g. '{\"anyOf\":{\"filters\":[{\"equals\":{\"key\":\"color\",\"value\":\"red\"}},{\"range\":{\"key\":\"year\",\"lower\":{\"value\":2020,\"inclusive\":true}}}]}}'.", valueName: "json"))
  var filter: String?

  @Option(name: .customLong("where"), help: ArgumentHelp("A metadata condition: KEY=VALUE, KEY!=VALUE, KEY>=N, KEY>N, KEY<=N, KEY<N (numbers), KEY? (has the key) or !KEY? (lacks it); repeat for conditions that must all hold (and with --filter). Keys holding = ! < > ? need --filter.", valueName: "condition"))
  var conditions: [String] = []

  /// The filter the options describe, or nil for none.
  func make() throws -> Bct_V1_Filter? {
    var parts = try conditions.map(Self.condition)
    if let filter {
      do {
        parts.append(try Bct_V1_Filter(jsonString: filter))
      } catch {
        throw ValidationError("--filter is not a bct.v1.Filter in protobuf JSON: \(error)")
      }
    }
    guard parts.count > 1 else { return parts.first }
    var all = Bct_V1_Filter()
    all.allOf.filters = parts
    return all
  }

  /// One `--where` condition.
  static func condition(_ text: String) throws -> Bct_V1_Filter {
    var filter = Bct_V1_Filter()
    if text.hasSuffix("?") {
      let negated = text.hasPrefix("!")
      let key = String(text.dropFirst(negated ? 1 : 0).dropLast())
      guard !key.isEmpty else { throw ValidationError("--where \(text): no key before ?") }
      filter.keyExists = key
      return negated ? negate(filter) : filter
    }
    for op in ["!=", ">=", "<=", "=", ">", "<"] {
      guard let range = text.range(of: op) else { continue }
      // The first operator in the text wins (">=" is found before "=" at the same place).
      if let earlier = ["!=", ">=", "<=", "=", ">", "<"].compactMap({ text.range(of: $0)?.lowerBound }).min(), earlier < range.lowerBound { continue }
      let key = String(text[..<range.lowerBound]), value = String(text[range.upperBound...])
      guard !key.isEmpty else { throw ValidationError("--where \(text): no key before \(op)") }
      switch op {
      case "=", "!=":
        filter.equals = .with { ($0.key, $0.value) = (key, value) }
        return op == "=" ? filter : negate(filter)
      default:
        guard let number = Double(value), number.isFinite else { throw ValidationError("--where \(text): \(value) is not a finite number") }
        let bound = Bct_V1_NumberBound.with { ($0.value, $0.inclusive) = (number, op.count == 2) }
        filter.range = .with {
          $0.key = key
          if op.hasPrefix(">") { $0.lower = bound } else { $0.upper = bound }
        }
        return filter
      }
    }
    throw ValidationError("--where \(text): expected KEY=VALUE, KEY!=VALUE, KEY>=N, KEY>N, KEY<=N, KEY<N, KEY? or !KEY?")
  }

  private static func negate(_ filter: Bct_V1_Filter) -> Bct_V1_Filter {
    var out = Bct_V1_Filter()
    out.negate = filter
    return out
  }
}
