/// An n-dimensional numeric array read from a file, as Float values (row-major).
public struct ArrayFile: Sendable, Equatable {
  /// Size of each dimension, outermost first.
  public let shape: [Int]
  /// The elements converted to Float, row-major.
  public let values: [Float]

  public init(shape: [Int], values: [Float]) {
    precondition(checkedProduct(shape) == values.count, "shape \(shape) does not match \(values.count) values")
    self.shape = shape
    self.values = values
  }

  /// Reads an IDX or NumPy `.npy` file, gzip-compressed or not (detected from content).
  public static func read(path: String) throws -> ArrayFile {
    var bytes = try FileBytes.read(path)
    if Gzip.isCompressed(bytes) { bytes = try Gzip.decompress(bytes, path: path) }
    if NPY.isNPY(bytes) { return try NPY.decode(bytes, path: path) }
    return try IDX.decode(bytes, path: path)
  }
}

/// Whole-file reads with errors that name the file.
enum FileBytes {
  static func read(_ path: String) throws -> [UInt8] {
    guard let file = fopen(path, "rb") else {
      throw DataError(path: path, "cannot open file (\(String(cString: strerror(errno))))")
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 1 << 20)
    while true {
      let n = chunk.withUnsafeMutableBytes { fread($0.baseAddress, 1, $0.count, file) }
      if n > 0 { bytes.append(contentsOf: chunk[0..<n]) }
      if n < chunk.count {
        if ferror(file) != 0 { throw DataError(path: path, "read error") }
        break
      }
    }
    return bytes
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
