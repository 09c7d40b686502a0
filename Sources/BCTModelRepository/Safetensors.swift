import BCTStorage
import Foundation

/// The safetensors format (as written by Python's `safetensors` package): an 8-byte
/// little-endian header length, a JSON header naming each tensor's dtype, shape and
/// byte range, then the raw little-endian data. Only F32 tensors are read and written.
public enum Safetensors {
  /// One float32 tensor.
  public struct Tensor: Sendable, Equatable {
    /// Dimensions, outermost first.
    public var shape: [Int]
    /// Elements, row-major.
    public var values: [Float]

    public init(shape: [Int], values: [Float]) {
      precondition(shape.reduce(1, *) == values.count, "shape \(shape) needs \(shape.reduce(1, *)) values, got \(values.count)")
      self.shape = shape
      self.values = values
    }
  }

  /// Why a safetensors file was refused.
  public struct FormatError: Error, CustomStringConvertible, Sendable {
    public let description: String
  }

  /// Serialises `tensors` (sorted by name) with optional string `metadata`.
  public static func encode(_ tensors: [String: Tensor], metadata: [String: String] = [:]) -> [UInt8] {
    var header: [String] = []
    if !metadata.isEmpty {
      let entries = metadata.keys.sorted().map { "\(jsonString($0)):\(jsonString(metadata[$0]!))" }
      header.append("\"__metadata__\":{\(entries.joined(separator: ","))}")
    }
    var offset = 0
    let names = tensors.keys.sorted()
    for name in names {
      let tensor = tensors[name]!
      let end = offset + tensor.values.count * 4
      header.append(
        "\(jsonString(name)):{\"dtype\":\"F32\",\"shape\":[\(tensor.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(end)]}")
      offset = end
    }
    var json = Array("{\(header.joined(separator: ","))}".utf8)
    while json.count % 8 != 0 { json.append(0x20) }
    var writer = BinaryWriter()
    writer.write(UInt64(json.count))
    writer.append(json)
    for name in names {
      for value in tensors[name]!.values { writer.write(value.bitPattern) }
    }
    return writer.bytes
  }

  /// Parses safetensors bytes, checking every offset against the file.
  public static func decode(_ bytes: [UInt8]) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
    guard bytes.count >= 8 else {
      throw FormatError(description: "file is \(bytes.count) bytes; safetensors starts with an 8-byte header length")
    }
    var length: UInt64 = 0
    for i in (0..<8).reversed() { length = length << 8 | UInt64(bytes[i]) }
    guard length <= UInt64(bytes.count - 8) else {
      throw FormatError(description: "header length \(length) exceeds the file (\(bytes.count) bytes)")
    }
    let headerEnd = 8 + Int(length)
    guard let object = try? JSONSerialization.jsonObject(with: Data(bytes[8..<headerEnd])) as? [String: Any] else {
      throw FormatError(description: "header is not a JSON object")
    }
    let dataSize = bytes.count - headerEnd
    var tensors: [String: Tensor] = [:]
    var metadata: [String: String] = [:]
    for (name, value) in object {
      if name == "__metadata__" {
        metadata = (value as? [String: String]) ?? [:]
        continue
      }
      guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
            let shape = (info["shape"] as? [NSNumber])?.map(\.intValue),
            let offsets = (info["data_offsets"] as? [NSNumber])?.map(\.intValue), offsets.count == 2 else {
        throw FormatError(description: "tensor \"\(name)\" lacks dtype, shape or data_offsets")
      }
      guard dtype == "F32" else {
        throw FormatError(description: "tensor \"\(name)\" is \(dtype); only F32 is supported (export with tensor.float())")
      }
      let count = shape.reduce(into: Int?(1)) { product, d in
        product = product.flatMap { p in d < 0 ? nil : p.multipliedReportingOverflow(by: d).overflow ? nil : p * d }
      }
      guard let count, count <= Int.max / 4, offsets[0] >= 0, offsets[0] <= offsets[1], offsets[1] <= dataSize,
            offsets[1] - offsets[0] == count * 4 else {
        throw FormatError(description: "tensor \"\(name)\" of shape \(shape) has byte range \(offsets), outside the \(dataSize)-byte data or of the wrong size")
      }
      var values = [Float](repeating: 0, count: count)
      let base = headerEnd + offsets[0]
      for i in 0..<count {
        let p = base + 4 * i
        let bits = UInt32(bytes[p]) | UInt32(bytes[p + 1]) << 8 | UInt32(bytes[p + 2]) << 16 | UInt32(bytes[p + 3]) << 24
        values[i] = Float(bitPattern: bits)
      }
      tensors[name] = Tensor(shape: shape, values: values)
    }
    return (tensors, metadata)
  }

  private static func jsonString(_ s: String) -> String {
    let data = try! JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])
    return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
  }
}
