import BCTNumerics
import BCTProtoC

/// Random protobuf messages in wire format, generated from the schema itself
/// (the protoc-c descriptors of `Protos/`): every field of every message, with
/// its type, label, oneof and nested type, is drawn from value pools that mix
/// valid and hostile values — huge and negative numbers, NaN and infinities,
/// empty, long, unicode, control and invalid-UTF-8 strings, repeated fields
/// of any length, several members of one oneof, unknown enum values. Fields
/// whose name carries meaning (versions, ids, k, tensors) get pools that often
/// make a request valid, so the fuzzer reaches past the first validation.
public struct SchemaFuzzer {
  private var generator: SeededGenerator
  /// Version names to draw from (the services' own, plus unknown ones).
  public var versions: [String]

  /// A fuzzer drawing from `seed`.
  public init(seed: UInt64, versions: [String] = ["v1", "v2", "v3", "x1"]) {
    generator = SeededGenerator(seed: seed)
    self.versions = versions
  }

  /// One random message of the type `descriptor` describes, encoded.
  public mutating func message(_ descriptor: UnsafePointer<ProtobufCMessageDescriptor>, depth: Int = 0) -> [UInt8] {
    var out: [UInt8] = []
    let d = descriptor.pointee
    if String(cString: d.name) == "bct.v1.Tensor" && chance(0.7) { return tensor() }
    var oneofChosen = false
    for i in 0..<Int(d.n_fields) {
      let field = d.fields[i]
      let name = String(cString: field.name)
      let isOneof = field.flags & UInt32(PROTOBUF_C_FIELD_FLAG_ONEOF.rawValue) != 0
      if isOneof {
        // Usually one member of a oneof; sometimes none, sometimes several (the last one wins on the wire).
        if oneofChosen && !chance(0.1) { continue }
        if !chance(0.6) { continue }
        oneofChosen = true
      }
      let repeated = field.label == PROTOBUF_C_LABEL_REPEATED
      let count = repeated ? repeatCount(name) : (chance(0.75) ? 1 : 0)
      guard count > 0 else { continue }
      if repeated && isPackable(field.type) && chance(0.7) {
        var packed: [UInt8] = []
        for _ in 0..<count { packed += scalar(field, name: name) }
        out += tag(field.id, wire: 2) + varint(UInt64(packed.count)) + packed
        continue
      }
      for _ in 0..<count {
        switch field.type {
        case PROTOBUF_C_TYPE_MESSAGE:
          guard depth < 4 else { continue }
          let nested = message(field.descriptor.assumingMemoryBound(to: ProtobufCMessageDescriptor.self), depth: depth + 1)
          out += tag(field.id, wire: 2) + varint(UInt64(nested.count)) + nested
        case PROTOBUF_C_TYPE_STRING:
          let bytes = string(name)
          out += tag(field.id, wire: 2) + varint(UInt64(bytes.count)) + bytes
        case PROTOBUF_C_TYPE_BYTES:
          let bytes = (0..<Int.random(in: 0...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
          out += tag(field.id, wire: 2) + varint(UInt64(bytes.count)) + bytes
        default:
          out += tag(field.id, wire: wireType(field.type)) + scalar(field, name: name)
        }
      }
    }
    // Now and then a field number the schema does not have, or a truncated tail.
    if chance(0.03) { out += tag(UInt32.random(in: 20...2000, using: &generator), wire: 0) + varint(UInt64.random(in: 0...UInt64.max, using: &generator)) }
    if chance(0.02) && !out.isEmpty { out.removeLast(Int.random(in: 1...min(4, out.count), using: &generator)) }
    return out
  }

  // MARK: Values

  private mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &generator) < p }

  private mutating func pick<T>(_ values: [T]) -> T { values[Int.random(in: 0..<values.count, using: &generator)] }

  private mutating func repeatCount(_ name: String) -> Int {
    if name == "documents" || name == "ids" { return pick([0, 1, 1, 2, 3, 5, 20, 300, 1025]) }
    return pick([0, 0, 1, 1, 2, 3, 8, 40])
  }

  private func isPackable(_ type: ProtobufCType) -> Bool {
    ![PROTOBUF_C_TYPE_STRING, PROTOBUF_C_TYPE_BYTES, PROTOBUF_C_TYPE_MESSAGE].contains(type)
  }

  private func wireType(_ type: ProtobufCType) -> UInt8 {
    switch type {
    case PROTOBUF_C_TYPE_FIXED64, PROTOBUF_C_TYPE_SFIXED64, PROTOBUF_C_TYPE_DOUBLE: return 1
    case PROTOBUF_C_TYPE_FIXED32, PROTOBUF_C_TYPE_SFIXED32, PROTOBUF_C_TYPE_FLOAT: return 5
    case PROTOBUF_C_TYPE_STRING, PROTOBUF_C_TYPE_BYTES, PROTOBUF_C_TYPE_MESSAGE: return 2
    default: return 0
    }
  }

  private mutating func integer(_ name: String) -> Int64 {
    switch name {
    case "k": return pick([-1, 0, 1, 3, 10, 1000, 1001, Int64(Int32.max), Int64(Int32.min)])
    case "batch_size": return pick([0, 1, 7, 128, 4096, 4097, -5, Int64(UInt32.max)])
    case "shape": return pick([-1, 0, 1, 1, 2, 28, 28, 784, 128, 100_000, 1 << 31, 1 << 40, 1 << 62, Int64.max, Int64.min])
    case "ef_search": return pick([0, 1, 64, 10_000, 10_001, Int64(UInt32.max)])
    case "page_size": return pick([0, 1, 2, 100, 1024, 1025, Int64(UInt32.max), -1])
    case "hnsw_m": return pick([0, 1, 2, 8, 512, 513, Int64(UInt32.max)])
    case "hnsw_ef_construction", "hnsw_ef_search": return pick([0, 1, 40, 10_000, 10_001, 100_001, Int64(UInt32.max)])
    default: return pick([0, 1, -1, 2, 7, 255, 1 << 20, Int64(Int32.max), Int64(Int32.min), Int64.max, Int64.min, Int64.random(in: .min ... .max, using: &generator)])
    }
  }

  /// Doubles, with the tiny and huge positive values that become durations
  /// (a rate's pause, a grace period) or sizes when a field is turned into one.
  private mutating func floating() -> Double {
    pick([0, -0.0, 1, -1, 0.5, 255, 1e38, -1e38, 1e-45, .nan, .infinity, -.infinity, 1e-300, 5e-324, 1e-9, 1e300, .greatestFiniteMagnitude,
          Double.random(in: -300...300, using: &generator)])
  }

  private mutating func scalar(_ field: ProtobufCFieldDescriptor, name: String) -> [UInt8] {
    switch field.type {
    case PROTOBUF_C_TYPE_BOOL: return varint(chance(0.5) ? 1 : pick([0, 2, 255]))
    case PROTOBUF_C_TYPE_ENUM:
      let e = field.descriptor.assumingMemoryBound(to: ProtobufCEnumDescriptor.self).pointee
      let known = (0..<Int(e.n_values)).map { Int64(e.values[$0].value) }
      let value = chance(0.85) && !known.isEmpty ? pick(known) : pick([-1, 99, Int64(Int32.max)])
      return varint(UInt64(bitPattern: value))
    case PROTOBUF_C_TYPE_SINT32, PROTOBUF_C_TYPE_SINT64:
      let value = integer(name)
      return varint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    case PROTOBUF_C_TYPE_FIXED64, PROTOBUF_C_TYPE_SFIXED64:
      return little(UInt64(bitPattern: integer(name)))
    case PROTOBUF_C_TYPE_FIXED32, PROTOBUF_C_TYPE_SFIXED32:
      return little32(UInt32(truncatingIfNeeded: integer(name)))
    case PROTOBUF_C_TYPE_FLOAT: return little32(Float(floating()).bitPattern)
    case PROTOBUF_C_TYPE_DOUBLE: return little(floating().bitPattern)
    case PROTOBUF_C_TYPE_UINT32, PROTOBUF_C_TYPE_INT32:
      return varint(UInt64(bitPattern: Int64(Int32(truncatingIfNeeded: integer(name)))))
    default:
      return varint(UInt64(bitPattern: integer(name)))
    }
  }

  private mutating func string(_ name: String) -> [UInt8] {
    if name.contains("version") || name == "service" {
      return Array(pick(versions + ["", "v1 ", "V1", "bct.v1.Retrieval", "bct.v1.Encoder", "nope", String(repeating: "v", count: 600)]).utf8)
    }
    if chance(0.05) { return [0x61, 0xC3, 0x28, 0xFF] }  // not UTF-8
    // Metadata keys and values the stored documents carry, and page tokens (base64url of an id) or not.
    if name == "key" || name == "key_exists" { return Array(pick(["label", "split", "é", "", "we\\\"ird", "label\u{0}"]).utf8) }
    if name == "value" || name == "values" { return Array(pick(["3", "test", "", "-1.5", "\"", "\\", "0"]).utf8) }
    // Collections: mostly the default one or a few the campaign creates and drops, so
    // that requests meet collections being created and dropped; some malformed names.
    if name == "collection" || name == "name" {
      return Array(pick(["", "", "default", "fz", "fz", "fz_two", "Fz", "fz-1", "../fz", "fz\u{0}", String(repeating: "f", count: 200)]).utf8)
    }
    if name == "page_token" { return Array(pick(["", "dGVzdC0x", "dGVzdC0x=", "!!", "wyg", String(repeating: "QUFB", count: 2000)]).utf8) }
    let pool = ["", "a", "doc-1", "d0", "é", "😀", "\u{0}", "\u{1B}[31m", "\u{202E}evil", "line\nbreak", "label",
                String(repeating: "x", count: 513), String(repeating: "é", count: 300), "id with spaces", "../../etc/passwd"]
    return Array(pick(pool).utf8)
  }

  /// A tensor that is often well-formed (a batch of images or embeddings), sometimes subtly not.
  private mutating func tensor() -> [UInt8] {
    let rows = pick([0, 1, 1, 2, 3, 17, 64])
    var shape: [Int64] = pick([[Int64(rows), 1, 28, 28], [1, 28, 28], [Int64(rows), 128], [Int64(rows), 784], [Int64(rows), 64], [Int64(rows), 1, 28, 27], [Int64(rows), 2, 28, 28], [], [-1, 784], [Int64(rows)],
                               [1, 1 << 40, 1 << 40], [Int64.max, Int64.max], [1, 3, 1 << 62, 1 << 62], [1 << 31, 1 << 31]])
    let product = shape.reduce(Int64(1)) { $0.multipliedReportingOverflow(by: $1).overflow ? Int64.max : $0 * $1 }
    let count = shape.isEmpty || shape.contains(where: { $0 < 0 }) ? pick([0, 1, 784]) : Int(min(product, 64 * 784))
    var values = (0..<count).map { _ in Float.random(in: 0...255, using: &generator) }
    if chance(0.15) && !values.isEmpty { values[Int.random(in: 0..<values.count, using: &generator)] = pick([.nan, .infinity, -.infinity, 1e30]) }
    if chance(0.1) && !values.isEmpty { values.removeLast() }
    if chance(0.05) { shape.append(0) }
    var out: [UInt8] = []
    var packedShape: [UInt8] = []
    for dim in shape { packedShape += varint(UInt64(bitPattern: dim)) }
    if !shape.isEmpty { out += tag(1, wire: 2) + varint(UInt64(packedShape.count)) + packedShape }
    var packedValues: [UInt8] = []
    packedValues.reserveCapacity(values.count * 4)
    for value in values { packedValues += little32(value.bitPattern) }
    if !values.isEmpty { out += tag(2, wire: 2) + varint(UInt64(packedValues.count)) + packedValues }
    return out
  }

  // MARK: Wire encoding

  private func tag(_ number: UInt32, wire: UInt8) -> [UInt8] { varint(UInt64(number) << 3 | UInt64(wire)) }

  private func varint(_ value: UInt64) -> [UInt8] {
    var v = value
    var out: [UInt8] = []
    repeat {
      out.append(UInt8(v & 0x7F) | (v > 0x7F ? 0x80 : 0))
      v >>= 7
    } while v > 0
    return out
  }

  private func little(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
  private func little32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> ($0 * 8)) } }
}
