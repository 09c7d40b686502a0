import Foundation
import Glibc

/// File-system steps that survive a crash at any point: a small file written whole
/// or not at all, a rename that is on disk once it returns, and a folder's entries
/// made durable; and a whole file read back.
public enum DurableFiles {
  /// fsyncs the folder at `directory`, so that entries created, renamed or removed in it are on disk.
  public static func syncDirectory(_ directory: URL) throws {
    let fd = Glibc.open(directory.path, O_RDONLY)
    guard fd >= 0 else { throw StorageError("cannot open \(directory.path) to sync it: \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    guard Glibc.fsync(fd) == 0 else { throw StorageError("fsync of \(directory.path) failed: \(String(cString: strerror(errno)))") }
  }

  /// Writes `data` to `url` and fsyncs it (the folder is not synced: a rename of the folder publishes it).
  public static func write(_ data: Data, to url: URL) throws {
    let fd = Glibc.open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw StorageError("cannot create \(url.path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    try DurableLog.writeAll(.system, fd, [UInt8](data))
    guard Glibc.fsync(fd) == 0 else { throw StorageError("fsync of \(url.path) failed: \(String(cString: strerror(errno)))") }
  }

  /// The whole file at `url`, read into one allocation of its size (a snapshot or a
  /// graph file of hundreds of megabytes is neither grown piecewise nor copied again).
  public static func read(_ url: URL) throws -> [UInt8] {
    let fd = Glibc.open(url.path, O_RDONLY)
    guard fd >= 0 else { throw StorageError("cannot open \(url.path): \(String(cString: strerror(errno)))") }
    defer { close(fd) }
    var status = stat()
    guard fstat(fd, &status) == 0, let size = Int(exactly: status.st_size) else { throw StorageError("cannot stat \(url.path)") }
    var bytes = [UInt8](repeating: 0, count: size)
    var done = 0
    try bytes.withUnsafeMutableBytes { raw in
      while done < size {
        let n = Glibc.read(fd, raw.baseAddress! + done, size - done)
        if n < 0 && errno == EINTR { continue }
        if n < 0 { throw StorageError("cannot read \(url.path): \(String(cString: strerror(errno)))") }
        if n == 0 { throw StorageError("\(url.path) ended after \(done) of its \(size) bytes") }
        done += n
      }
    }
    return bytes
  }

  /// Renames `source` to `destination` (same file system, destination absent) and fsyncs the folder holding both.
  public static func rename(_ source: URL, to destination: URL) throws {
    guard Glibc.rename(source.path, destination.path) == 0 else {
      throw StorageError("cannot rename \(source.path) to \(destination.path): \(String(cString: strerror(errno)))")
    }
    try syncDirectory(destination.deletingLastPathComponent())
  }
}
