import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// An exclusive `flock` on `LOCK` in a folder, held until released or the process
/// ends (the kernel drops it with the process, also on kill -9), so that two
/// processes never write one write-ahead log: their records would interleave and
/// each would prune the other's segments.
public final class DirectoryLock: Sendable {
  /// The locked folder.
  public let directory: URL
  private let descriptor: Int32

  /// Locks `directory` (creating it and its `LOCK` file); throws at once, without
  /// waiting, when another holder has it.
  public init(_ directory: URL) throws {
    self.directory = directory
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("LOCK").path
    let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard fd >= 0 else { throw StorageError("cannot open \(path): \(String(cString: strerror(errno)))") }
    guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
      let reason = errno == EWOULDBLOCK ? "another process holds it" : String(cString: strerror(errno))
      close(fd)
      throw StorageError("\(directory.path) is locked (\(path)): \(reason)")
    }
    descriptor = fd
  }

  deinit { close(descriptor) }
}
