import CZlib

/// CRC-32 (zlib's) of `bytes`, to detect torn or corrupted records.
public func crc32(_ bytes: [UInt8]) -> UInt32 {
  bytes.withUnsafeBytes { crc32($0) }
}

/// CRC-32 of `bytes` continued from `crc` (the CRC of what came before them; 0 to start).
public func crc32(_ bytes: UnsafeRawBufferPointer, continuing crc: UInt32 = 0) -> UInt32 {
  var crc = crc
  var offset = 0
  // zlib's length is 32-bit: feed at most 1 GiB at a time.
  while offset < bytes.count {
    let chunk = min(bytes.count - offset, 1 << 30)
    crc = UInt32(CZlib.crc32(uLong(crc), bytes.baseAddress!.assumingMemoryBound(to: UInt8.self) + offset, uInt(chunk)))
    offset += chunk
  }
  return crc
}
