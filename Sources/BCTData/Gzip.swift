import CZlib

/// gzip decompression through zlib, for the `.gz` files datasets ship as.
public enum Gzip {
  /// True when `bytes` start with the gzip magic number.
  public static func isCompressed(_ bytes: [UInt8]) -> Bool {
    bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
  }

  /// The decompressed contents of a gzip stream; `path` names it in errors.
  public static func decompress(_ input: [UInt8], path: String = "") throws -> [UInt8] {
    var stream = z_stream()
    guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
      throw DataError(path: path, "zlib could not start inflating")
    }
    defer { inflateEnd(&stream) }
    var output: [UInt8] = []
    output.reserveCapacity(input.count * 4)
    var chunk = [UInt8](repeating: 0, count: 1 << 16)
    var status: Int32 = Z_OK
    try input.withUnsafeBufferPointer { source in
      stream.next_in = UnsafeMutablePointer(mutating: source.baseAddress)
      stream.avail_in = uInt(source.count)
      repeat {
        let produced: Int = chunk.withUnsafeMutableBufferPointer { target in
          stream.next_out = target.baseAddress
          stream.avail_out = uInt(target.count)
          status = inflate(&stream, Z_NO_FLUSH)
          return target.count - Int(stream.avail_out)
        }
        if status == Z_BUF_ERROR && stream.avail_in == 0 {
          throw DataError(path: path, "gzip stream is truncated: it ends before its end marker")
        }
        guard status == Z_OK || status == Z_STREAM_END else {
          throw DataError(path: path, "corrupt gzip data (zlib status \(status)); expected a valid .gz file")
        }
        output.append(contentsOf: chunk[0..<produced])
        if status == Z_OK && produced == 0 && stream.avail_in == 0 {
          throw DataError(path: path, "gzip stream is truncated: it ends before its end marker")
        }
      } while status != Z_STREAM_END
    }
    return output
  }
}
