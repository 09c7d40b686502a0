import Foundation

/// Little-endian binary encoding for the write-ahead log and snapshots.
public struct BinaryWriter: Sendable {
  /// The bytes written so far.
  public private(set) var bytes: [UInt8] = []

  /// An empty writer.
  public init() {}

  /// Appends an unsigned integer, little-endian.
  public mutating func write<T: FixedWidthInteger & UnsignedInteger>(_ value: T) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  /// Appends a length-prefixed UTF-8 string.
  public mutating func write(_ string: String) {
    let utf8 = Array(string.utf8)
    write(UInt32(utf8.count))
    bytes.append(contentsOf: utf8)
  }

  /// Appends a count-prefixed float32 array.
  public mutating func write(_ floats: [Float]) {
    write(UInt32(floats.count))
    // Geometric growth: an exact reserve for each of thousands of vectors would copy the buffer each time.
    let needed = bytes.count + floats.count * 4
    if bytes.capacity < needed { bytes.reserveCapacity(max(needed, bytes.capacity * 2)) }
    #if _endian(little)
    floats.withUnsafeBytes { bytes.append(contentsOf: $0) }
    #else
    for value in floats { write(value.bitPattern) }
    #endif
  }

  /// Appends a count-prefixed array of integers (as UInt32).
  public mutating func write(_ ints: [Int]) {
    write(UInt32(ints.count))
    for value in ints { write(UInt32(truncatingIfNeeded: value)) }
  }

  /// Appends a string map, keys sorted (so equal maps encode equally).
  public mutating func write(_ map: [String: String]) {
    write(UInt32(map.count))
    for key in map.keys.sorted() {
      write(key)
      write(map[key]!)
    }
  }

  /// Appends raw bytes.
  public mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
}

/// Reads what `BinaryWriter` wrote; every read is bounds-checked.
public struct BinaryReader {
  private let bytes: [UInt8]
  /// Position of the next read.
  public private(set) var offset: Int

  /// A reader over `bytes` from `offset`.
  public init(_ bytes: [UInt8], offset: Int = 0) {
    self.bytes = bytes
    self.offset = offset
  }

  /// Bytes left.
  public var remaining: Int { bytes.count - offset }

  /// Moves past `count` bytes; returns where they began.
  @discardableResult
  public mutating func skip(_ count: Int) throws -> Int {
    guard count >= 0, count <= remaining else { throw StorageError("a length of \(count) runs past the end") }
    defer { offset += count }
    return offset
  }

  /// Reads an unsigned little-endian integer.
  public mutating func read<T: FixedWidthInteger & UnsignedInteger>(_: T.Type = T.self) throws -> T {
    let size = MemoryLayout<T>.size
    guard remaining >= size else { throw StorageError("truncated data: needed \(size) bytes at offset \(offset), \(remaining) left") }
    var value: T = 0
    for i in 0..<size { value |= T(bytes[offset + i]) << (8 * i) }
    offset += size
    return value
  }

  /// Reads a count prefix of elements that take at least `elementBytes` each,
  /// refusing a count the remaining bytes cannot hold (so a corrupt count never
  /// makes a reader allocate or loop for elements that are not there).
  public mutating func readCount(elementBytes: Int) throws -> Int {
    let count = Int(try read(UInt32.self))
    guard count <= remaining / max(1, elementBytes) else {
      throw StorageError("a count of \(count) at offset \(offset) exceeds what the \(remaining) remaining bytes can hold")
    }
    return count
  }

  /// Reads a length-prefixed UTF-8 string.
  public mutating func readString() throws -> String {
    let count = Int(try read(UInt32.self))
    guard remaining >= count else { throw StorageError("truncated string of \(count) bytes at offset \(offset)") }
    defer { offset += count }
    guard let string = String(validating: bytes[offset..<(offset + count)], as: UTF8.self) else {
      throw StorageError("invalid UTF-8 at offset \(offset)")
    }
    return string
  }

  /// Reads a count-prefixed float32 array.
  public mutating func readFloats() throws -> [Float] {
    let count = Int(try read(UInt32.self))
    guard remaining >= count * 4 else { throw StorageError("truncated float array of \(count) at offset \(offset)") }
    #if _endian(little)
    defer { offset += count * 4 }
    return [Float](unsafeUninitializedCapacity: count) { buffer, initialized in
      bytes.withUnsafeBytes { source in
        UnsafeMutableRawBufferPointer(buffer).copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + count * 4)]))
      }
      initialized = count
    }
    #else
    var values = [Float](repeating: 0, count: count)
    for i in 0..<count { values[i] = Float(bitPattern: try read(UInt32.self)) }
    return values
    #endif
  }

  /// Reads a count-prefixed integer array.
  public mutating func readInts() throws -> [Int] {
    let count = Int(try read(UInt32.self))
    guard remaining >= count * 4 else { throw StorageError("truncated integer array of \(count) at offset \(offset)") }
    return try (0..<count).map { _ in Int(try read(UInt32.self)) }
  }

  /// Reads a string map.
  public mutating func readMap() throws -> [String: String] {
    let count = try readCount(elementBytes: 8)
    var map: [String: String] = [:]
    for _ in 0..<count { map[try readString()] = try readString() }
    return map
  }

  /// Reads `count` raw bytes.
  public mutating func readBytes(_ count: Int) throws -> [UInt8] {
    guard count >= 0, remaining >= count else { throw StorageError("truncated: needed \(count) bytes at offset \(offset)") }
    defer { offset += count }
    return Array(bytes[offset..<(offset + count)])
  }
}

/// A storage file is unreadable or inconsistent.
public struct StorageError: Error, CustomStringConvertible {
  public let description: String
  /// An error with `description`.
  public init(_ description: String) { self.description = description }
}
