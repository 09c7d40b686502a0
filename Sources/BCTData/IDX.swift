/// The IDX format of MNIST and Fashion-MNIST: a 4-byte magic (0, 0, type, rank),
/// `rank` big-endian UInt32 dimensions, then the elements, big-endian.
public enum IDX {
  /// Decodes IDX bytes (already decompressed).
  public static func decode(_ bytes: [UInt8], path: String = "") throws -> ArrayFile {
    guard bytes.count >= 4 else {
      throw DataError(path: path, "file is \(bytes.count) bytes; an IDX file starts with a 4-byte magic number")
    }
    guard bytes[0] == 0, bytes[1] == 0 else {
      throw DataError(path: path, "not an IDX or .npy file: the first two bytes must be 0 (IDX) or \\x93NUMPY (.npy)")
    }
    let type = bytes[2]
    let rank = Int(bytes[3])
    guard rank >= 1 else { throw DataError(path: path, "IDX rank is 0; expected at least 1 dimension") }
    let elementSize: Int
    switch type {
    case 0x08, 0x09: elementSize = 1
    case 0x0B: elementSize = 2
    case 0x0C, 0x0D: elementSize = 4
    case 0x0E: elementSize = 8
    default:
      throw DataError(path: path, "unknown IDX element type 0x\(String(type, radix: 16)); expected 0x08, 0x09, 0x0B, 0x0C, 0x0D or 0x0E")
    }
    let headerSize = 4 + 4 * rank
    guard bytes.count >= headerSize else {
      throw DataError(path: path, "truncated IDX header: need \(headerSize) bytes for rank \(rank), file has \(bytes.count)")
    }
    let shape = (0..<rank).map { d in
      let o = 4 + 4 * d
      return Int(bytes[o]) << 24 | Int(bytes[o + 1]) << 16 | Int(bytes[o + 2]) << 8 | Int(bytes[o + 3])
    }
    // Every partial product must fit: a zero dimension after an overflowing one does not make it fit.
    let count = checkedProduct(shape) ?? Int.max
    let payload = checkedProduct([count, elementSize]) ?? Int.max
    let expected = payload > Int.max - headerSize ? Int.max : headerSize + payload
    guard count != Int.max, expected != Int.max, bytes.count == expected else {
      throw DataError(path: path, "IDX shape \(shape) needs \(expected) bytes, file has \(bytes.count) (truncated or trailing data)")
    }
    var values = [Float](repeating: 0, count: count)
    bytes.withUnsafeBufferPointer { raw in
      let data = raw.baseAddress! + headerSize
      for i in 0..<count {
        let p = data + i * elementSize
        switch type {
        case 0x08: values[i] = Float(p[0])
        case 0x09: values[i] = Float(Int8(bitPattern: p[0]))
        case 0x0B: values[i] = Float(Int16(bitPattern: UInt16(p[0]) << 8 | UInt16(p[1])))
        case 0x0C: values[i] = Float(Int32(bitPattern: bigEndian32(p)))
        case 0x0D: values[i] = Float(bitPattern: bigEndian32(p))
        default:
          var bits: UInt64 = 0
          for b in 0..<8 { bits = bits << 8 | UInt64(p[b]) }
          values[i] = Float(Double(bitPattern: bits))
        }
      }
    }
    return ArrayFile(shape: shape, values: values)
  }

  private static func bigEndian32(_ p: UnsafePointer<UInt8>) -> UInt32 {
    UInt32(p[0]) << 24 | UInt32(p[1]) << 16 | UInt32(p[2]) << 8 | UInt32(p[3])
  }
}
