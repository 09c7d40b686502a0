import Foundation
import Glibc

/// File-system steps that survive a crash at any point: a small file written whole
/// or not at all, a rename that is on disk once it returns, and a folder's entries
/// made durable.
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

  /// Renames `source` to `destination` (same file system, destination absent) and fsyncs the folder holding both.
  public static func rename(_ source: URL, to destination: URL) throws {
    guard Glibc.rename(source.path, destination.path) == 0 else {
      throw StorageError("cannot rename \(source.path) to \(destination.path): \(String(cString: strerror(errno)))")
    }
    try syncDirectory(destination.deletingLastPathComponent())
  }
}
