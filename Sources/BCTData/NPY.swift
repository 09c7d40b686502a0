import Foundation

/// NumPy's `.npy` format: magic `\x93NUMPY`, version, a header dict
/// (`descr`, `fortran_order`, `shape`), then the raw elements.
public enum NPY {
  static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]

  /// True when `bytes` start with the `.npy` magic string.
  public static func isNPY(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 6 && Array(bytes[0..<6]) == magic
  }

  /// Decodes `.npy` bytes with a little-endian or byte-sized numeric dtype in C order.
  public static func decode(_ bytes: [UInt8], path: String = "") throws -> ArrayFile {
    guard isNPY(bytes), bytes.count >= 10 else {
      throw DataError(path: path, "not a .npy file: it must start with \\x93NUMPY and a version")
    }
    let major = bytes[6]
    let headerLength: Int
    let headerStart: Int
    switch major {
    case 1:
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
      headerStart = 10
    case 2, 3:
      guard bytes.count >= 12 else { throw DataError(path: path, "truncated .npy header") }
      headerLength = Int(bytes[8]) | Int(bytes[9]) << 8 | Int(bytes[10]) << 16 | Int(bytes[11]) << 24
      headerStart = 12
    default:
      throw DataError(path: path, ".npy version \(major) is not supported; expected 1, 2 or 3")
    }
    guard bytes.count >= headerStart + headerLength else {
      throw DataError(path: path, "truncated .npy header: it declares \(headerLength) bytes, file has \(bytes.count - headerStart)")
    }
    let header = String(decoding: bytes[headerStart..<(headerStart + headerLength)], as: UTF8.self)
    guard let descr = value(of: "descr", in: header)?.trimmingQuotes() else {
      throw DataError(path: path, ".npy header has no 'descr': \(header)")
    }
    if let fortran = value(of: "fortran_order", in: header), fortran.hasPrefix("True") {
      throw DataError(path: path, "Fortran-ordered .npy arrays are not supported; save with np.ascontiguousarray")
    }
    guard let shapeText = value(of: "shape", in: header) else {
      throw DataError(path: path, ".npy header has no 'shape': \(header)")
    }
    let shape = try parseShape(shapeText, path: path)
    guard let (size, convert) = converter(for: descr) else {
      throw DataError(path: path, ".npy dtype '\(descr)' is not supported; expected one of <f4 <f8 |u1 |i1 <i2 <i4 <i8 <u2 <u4 (little-endian)")
    }
    let dataStart = headerStart + headerLength
    guard let count = checkedProduct(shape), let dataBytes = checkedProduct([count, size]), bytes.count - dataStart == dataBytes else {
      throw DataError(path: path, ".npy shape \(shape) of '\(descr)' needs \(checkedProduct(shape + [size]).map(String.init) ?? "more than Int.max") data bytes, file has \(bytes.count - dataStart)")
    }
    var values = [Float](repeating: 0, count: count)
    bytes.withUnsafeBufferPointer { raw in
      for i in 0..<count { values[i] = convert(raw.baseAddress! + dataStart + i * size) }
    }
    return ArrayFile(shape: shape, values: values)
  }

  /// Encodes `values` of `shape` as a little-endian float32 `.npy` (version 1.0).
  public static func encode(shape: [Int], values: [Float]) -> [UInt8] {
    let dims = shape.map(String.init).joined(separator: ", ") + (shape.count == 1 ? "," : "")
    var header = "{'descr': '<f4', 'fortran_order': False, 'shape': (\(dims)), }"
    let unpadded = 10 + header.utf8.count + 1
    header += String(repeating: " ", count: (64 - unpadded % 64) % 64) + "\n"
    var bytes = magic + [1, 0]
    let length = header.utf8.count
    bytes += [UInt8(length & 0xff), UInt8(length >> 8)]
    bytes += Array(header.utf8)
    bytes.reserveCapacity(bytes.count + values.count * 4)
    for value in values {
      let bits = value.bitPattern.littleEndian
      bytes += [UInt8(bits & 0xff), UInt8(bits >> 8 & 0xff), UInt8(bits >> 16 & 0xff), UInt8(bits >> 24)]
    }
    return bytes
  }

  /// The text after `'key':` up to the next top-level comma or closing brace.
  private static func value(of key: String, in header: String) -> String? {
    guard let range = header.range(of: "'\(key)':") else { return nil }
    var depth = 0
    var result = ""
    for ch in header[range.upperBound...] {
      if ch == "(" { depth += 1 }
      if ch == ")" { depth -= 1 }
      if depth == 0 && (ch == "," || ch == "}") { break }
      result.append(ch)
      if depth == 0 && ch == ")" { break }
    }
    return result.trimmed(" ")
  }

  private static func parseShape(_ text: String, path: String) throws -> [Int] {
    let inner = text.trimmed(" ()")
    let parts = inner.split(separator: ",").map { String($0).trimmed(" L") }.filter { !$0.isEmpty }
    var shape: [Int] = []
    for part in parts {
      guard let n = Int(part), n >= 0 else {
        throw DataError(path: path, ".npy shape \(text) is not a tuple of non-negative integers")
      }
      shape.append(n)
    }
    return shape
  }

  private static func converter(for descr: String) -> (Int, (UnsafePointer<UInt8>) -> Float)? {
    func le(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
      var v: UInt64 = 0
      for i in (0..<n).reversed() { v = v << 8 | UInt64(p[i]) }
      return v
    }
    switch descr {
    case "<f4": return (4, { Float(bitPattern: UInt32(le($0, 4))) })
    case "<f8": return (8, { Float(Double(bitPattern: le($0, 8))) })
    case "|u1", "<u1": return (1, { Float($0[0]) })
    case "|i1", "<i1": return (1, { Float(Int8(bitPattern: $0[0])) })
    case "<i2": return (2, { Float(Int16(truncatingIfNeeded: le($0, 2))) })
    case "<u2": return (2, { Float(UInt16(le($0, 2))) })
    case "<i4": return (4, { Float(Int32(truncatingIfNeeded: le($0, 4))) })
    case "<u4": return (4, { Float(UInt32(le($0, 4))) })
    case "<i8": return (8, { Float(Int64(bitPattern: le($0, 8))) })
    default: return nil
    }
  }
}

extension String {
  fileprivate func trimmingQuotes() -> String { trimmed(" '\"") }

  fileprivate func trimmed(_ characters: String) -> String {
    trimmingCharacters(in: CharacterSet(charactersIn: characters))
  }
}

/// The product of `factors` (all non-negative), or nil when it overflows or a factor is negative.
func checkedProduct(_ factors: [Int]) -> Int? {
  var product = 1
  for factor in factors {
    guard factor >= 0 else { return nil }
    let (next, overflow) = product.multipliedReportingOverflow(by: factor)
    if overflow { return nil }
    product = next
  }
  return product
}
