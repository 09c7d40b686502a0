import BCTMilvusProto
import Foundation

extension Milvus_Proto_Schema_FieldData {
  /// A VarChar column.
  static func strings(_ name: String, _ values: [String]) -> Self {
    .with {
      $0.type = .varChar
      $0.fieldName = name
      $0.scalars = .with { $0.stringData = .with { $0.data = values } }
    }
  }

  /// A Bool column.
  static func bools(_ name: String, _ values: [Bool]) -> Self {
    .with {
      $0.type = .bool
      $0.fieldName = name
      $0.scalars = .with { $0.boolData = .with { $0.data = values } }
    }
  }

  /// A JSON column (each value a JSON document's UTF-8 bytes).
  static func json(_ name: String, _ values: [Data]) -> Self {
    .with {
      $0.type = .json
      $0.fieldName = name
      $0.scalars = .with { $0.jsonData = .with { $0.data = values } }
    }
  }

  /// A FloatVector column: `values` holds the rows back to back.
  static func vectors(_ name: String, dimension: Int, _ values: [Float]) -> Self {
    .with {
      $0.type = .floatVector
      $0.fieldName = name
      $0.vectors = .with {
        $0.dim = Int64(dimension)
        $0.floatVector = .with { $0.data = values }
      }
    }
  }
}

/// The columns of a Milvus reply by field name, read with shape checks.
struct MilvusColumns {
  private let byName: [String: Milvus_Proto_Schema_FieldData]
  private let call: String

  init(_ fields: [Milvus_Proto_Schema_FieldData], call: String) throws {
    var byName: [String: Milvus_Proto_Schema_FieldData] = [:]
    for field in fields { byName[field.fieldName] = field }
    self.byName = byName
    self.call = call
  }

  private func column(_ name: String) throws -> Milvus_Proto_Schema_FieldData {
    guard let field = byName[name] else { throw MilvusError.malformedReply(call: call, detail: "no \(name) column") }
    return field
  }

  func strings(_ name: String) throws -> [String] {
    guard case .stringData(let values)? = try column(name).scalars.data else {
      throw MilvusError.malformedReply(call: call, detail: "column \(name) is not VarChar")
    }
    return values.data
  }

  /// The single value of an Int64 column (Milvus's `count(*)`).
  func count(_ name: String) throws -> Int {
    guard case .longData(let values)? = try column(name).scalars.data, let total = values.data.first else {
      throw MilvusError.malformedReply(call: call, detail: "no \(name) value")
    }
    return Int(total)
  }

  func bools(_ name: String, rows: Int) throws -> [Bool] {
    guard case .boolData(let values)? = try column(name).scalars.data, values.data.count == rows else {
      throw MilvusError.malformedReply(call: call, detail: "column \(name) is not Bool with \(rows) rows")
    }
    return values.data
  }

  func json(_ name: String, rows: Int) throws -> [Data] {
    guard case .jsonData(let values)? = try column(name).scalars.data, values.data.count == rows else {
      throw MilvusError.malformedReply(call: call, detail: "column \(name) is not JSON with \(rows) rows")
    }
    return values.data
  }

  func vectors(_ name: String, dimension: Int, rows: Int) throws -> [[Float]] {
    let field = try column(name).vectors
    guard case .floatVector(let values)? = field.data, field.dim == Int64(dimension),
      values.data.count == rows * dimension
    else {
      throw MilvusError.malformedReply(call: call, detail: "column \(name) is not \(rows) float vectors of \(dimension)")
    }
    return (0..<rows).map { Array(values.data[($0 * dimension)..<(($0 + 1) * dimension)]) }
  }
}
