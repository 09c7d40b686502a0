import Crypto

extension SHA256 {
  /// Feeds one tensor as every digest of weights in the repository does: the name,
  /// the shape joined by commas, then the little-endian float32 data.
  mutating func update(tensor name: String, shape: [Int], values: [Float]) {
    update(data: Array(name.utf8))
    update(data: Array(shape.map(String.init).joined(separator: ",").utf8))
    values.withUnsafeBufferPointer { update(bufferPointer: UnsafeRawBufferPointer($0)) }
  }
}

extension SHA256Digest {
  /// Lower-case hex, as manifests record digests.
  public var hex: String { map { String(format: "%02x", $0) }.joined() }
}
