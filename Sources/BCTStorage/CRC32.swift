import CZlib

/// CRC-32 (zlib's) of `bytes`, to detect torn or corrupted records.
public func crc32(_ bytes: [UInt8]) -> UInt32 {
  bytes.withUnsafeBufferPointer { buffer in
    UInt32(CZlib.crc32(0, buffer.baseAddress, uInt(buffer.count)))
  }
}
