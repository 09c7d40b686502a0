import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The file-system calls the log makes on its segment; tests inject faults here.
/// Each returns what the system call returns, with `errno` set on failure.
public struct FileOperations: Sendable {
  /// write(2).
  public var write: @Sendable (Int32, UnsafeRawPointer, Int) -> Int
  /// fsync(2).
  public var fsync: @Sendable (Int32) -> Int32
  /// ftruncate(2).
  public var truncate: @Sendable (Int32, off_t) -> Int32

  /// Operations from the given calls.
  public init(
    write: @escaping @Sendable (Int32, UnsafeRawPointer, Int) -> Int, fsync: @escaping @Sendable (Int32) -> Int32,
    truncate: @escaping @Sendable (Int32, off_t) -> Int32
  ) {
    self.write = write
    self.fsync = fsync
    self.truncate = truncate
  }

  /// The operating system's.
  public static let system = FileOperations(
    write: { Glibc.write($0, $1, $2) }, fsync: { Glibc.fsync($0) }, truncate: { ftruncate($0, $1) })
}

/// Write-ahead log segments plus snapshots in one folder.
///
/// Records are `u32 length, u32 crc32, u64 sequence, payload`; a record is durable
/// once `append` returns under the `always` policy (fsync before acknowledging).
/// A snapshot at sequence S is written to a temporary file, fsynced and renamed
/// (atomic), and starts a new log segment `wal-S.log`. The two newest snapshots are
/// kept, and every segment a recovery from the older of them would need, so a
/// corrupt newest snapshot still leaves a complete history.
///
/// A failed append is cut back: the segment is truncated to where the record
/// began, so no partial record stays for a later one to follow. When that cut
/// fails, or an fsync fails (the kernel's page cache is then in an unknown
/// state), the log refuses every later write until the process restarts and
/// recovers from what is on disk; no error of a write or an fsync is ignored.
public final class DurableLog: Sendable {
  /// When appended records reach the disk.
  public enum SyncPolicy: String, Sendable, CaseIterable {
    /// fsync before every append returns (no acknowledged write is ever lost).
    case always
    /// fsync by `syncIfDue()` at most every second (a crash may lose the last second).
    case interval
    /// Leave it to the operating system.
    case never
  }

  /// What recovery found.
  public struct Recovery: Sendable {
    /// The newest intact snapshot: its sequence and payload.
    public var snapshot: (sequence: UInt64, payload: [UInt8])?
    /// Intact log records after the snapshot, in order.
    public var records: [(sequence: UInt64, payload: [UInt8])] = []
    /// Human-readable problems found and what was done about them.
    public var problems: [String] = []
    /// The last sequence number recovered.
    public var lastSequence: UInt64 = 0
  }

  private static let snapshotMagic: [UInt8] = Array("BCTSNAP1".utf8)
  private static let headerSize = 16

  /// The folder.
  public let directory: URL
  /// The sync policy.
  public let policy: SyncPolicy

  private struct State {
    var descriptor: Int32 = -1
    var segmentStart: UInt64 = 0
    /// Bytes in the open segment: where the next record begins.
    var size: off_t = 0
    var lastSync = ContinuousClock.now
    var dirty = false
    /// Why the log refuses writes, once a failure left it in an unknown state.
    var failure: String?
  }
  private let state = Mutex(State())
  private let operations: FileOperations

  /// Opens (creating) the log in `directory`; call `recover()` first, then `open(after:)`.
  public init(directory: URL, policy: SyncPolicy, operations: FileOperations = .system) throws {
    self.directory = directory
    self.policy = policy
    self.operations = operations
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
  }

  deinit {
    state.withLock { if $0.descriptor >= 0 { close($0.descriptor) } }
  }

  // MARK: Recovery

  /// Reads the newest intact snapshot and the intact records after it.
  ///
  /// Segments the snapshot covers entirely (the next one starts at or before
  /// it) are not read: damage there loses nothing. A torn or corrupt record
  /// ends its segment, which is truncated there (so nothing ever follows
  /// garbage); replay goes on into the next segment when that one continues
  /// the sequence. When records are missing (a gap no later segment bridges),
  /// replay stops at the gap and every later segment is renamed aside
  /// (`*.orphaned`, kept for inspection), so that the sequence numbers the
  /// service reuses from there can never meet old records again.
  public func recover() throws -> Recovery {
    var recovery = Recovery()
    let snapshots = try files(prefix: "snapshot-", suffix: ".bin").sorted { $0.sequence > $1.sequence }
    for file in snapshots {
      do {
        recovery.snapshot = (file.sequence, try readSnapshot(file.url))
        break
      } catch {
        recovery.problems.append("snapshot \(file.url.lastPathComponent) is unreadable (\(error)); trying an older one")
      }
    }
    let covered = recovery.snapshot?.sequence ?? 0
    var sequence = covered
    let segments = try files(prefix: "wal-", suffix: ".log").sorted { $0.sequence < $1.sequence }
    for (index, segment) in segments.enumerated() {
      if index + 1 < segments.count, segments[index + 1].sequence <= covered { continue }
      switch replay(segment.url, after: &sequence, into: &recovery) {
      case .complete:
        continue
      case .gap:
        orphan(segments[(index + 1)...].map(\.url), into: &recovery)
      }
      break
    }
    recovery.lastSequence = sequence
    return recovery
  }

  private enum Replay { case complete, gap }

  /// Replays one segment's records after `sequence`; `.gap` when a record is
  /// missing before the segment's last one (this segment's later records are then dropped).
  private func replay(_ url: URL, after sequence: inout UInt64, into recovery: inout Recovery) -> Replay {
    let bytes = [UInt8]((try? Data(contentsOf: url)) ?? Data())
    var offset = 0
    while offset < bytes.count {
      guard let (recordSequence, payload, next) = Self.parseRecord(bytes, at: offset) else {
        recovery.problems.append("\(url.lastPathComponent): torn or corrupt record at byte \(offset); dropped the \(bytes.count - offset) bytes from there (never acknowledged under fsync=always)")
        if truncate(url.path, off_t(offset)) != 0 {
          recovery.problems.append("\(url.lastPathComponent): cannot truncate (\(String(cString: strerror(errno)))); renamed aside instead")
          orphan([url], into: &recovery)
        }
        return .complete
      }
      if recordSequence > sequence {
        guard recordSequence == sequence + 1 else {
          recovery.problems.append("\(url.lastPathComponent): sequence jumps from \(sequence) to \(recordSequence): records are missing; replay stopped at \(sequence)")
          // Records after a gap can never be replayed: the segment goes aside whole, or is cut at the gap.
          if offset == 0 || truncate(url.path, off_t(offset)) != 0 { orphan([url], into: &recovery) }
          return .gap
        }
        recovery.records.append((recordSequence, payload))
        sequence = recordSequence
      }
      offset = next
    }
    return .complete
  }

  /// Renames segments no replay may read again to `NAME.orphaned`.
  private func orphan(_ urls: [URL], into recovery: inout Recovery) {
    for url in urls {
      let aside = url.path + ".orphaned"
      if rename(url.path, aside) == 0 {
        recovery.problems.append("\(url.lastPathComponent): kept aside as \(url.lastPathComponent).orphaned, never replayed")
      } else {
        recovery.problems.append("\(url.lastPathComponent): cannot rename aside (\(String(cString: strerror(errno))))")
      }
    }
  }

  /// Opens a new segment for records after `sequence` (the last recovered one).
  public func open(after sequence: UInt64) throws {
    try state.withLock { state in
      if state.descriptor >= 0 { close(state.descriptor) }
      state.descriptor = try openSegment(startingAfter: sequence)
      state.segmentStart = sequence
      state.size = lseek(state.descriptor, 0, SEEK_END)
    }
  }

  /// Why the log refuses writes, if it does.
  public var failure: String? { state.withLock { $0.failure } }

  // MARK: Writing

  /// Appends one record; under `always` it is on disk when this returns.
  public func append(sequence: UInt64, payload: [UInt8]) throws {
    // The record is length, CRC, then the body (sequence and payload); the payload is
    // written from where it is, not copied behind a header (a backfill batch is megabytes).
    var sequenceBytes = BinaryWriter()
    sequenceBytes.write(sequence)
    let crc = payload.withUnsafeBytes { payload in
      sequenceBytes.bytes.withUnsafeBytes { crc32(payload, continuing: crc32($0)) }
    }
    guard let length = UInt32(exactly: sequenceBytes.bytes.count + payload.count) else {
      throw StorageError("a log record of \(payload.count) bytes is over the format's 4 GiB")
    }
    var header = BinaryWriter()
    header.write(length)
    header.write(crc)
    header.append(sequenceBytes.bytes)
    try state.withLock { state in
      guard state.descriptor >= 0 else { throw StorageError("the log is not open") }
      if let failure = state.failure { throw StorageError("the log refuses writes since \(failure); restart the service to recover from what is on disk") }
      let start = state.size
      do {
        try Self.writeAll(operations, state.descriptor, header.bytes)
        try Self.writeAll(operations, state.descriptor, payload)
      } catch {
        // Cut the partial record off; if that fails, no later record may follow it.
        if operations.truncate(state.descriptor, start) != 0 {
          state.failure = "a failed write could not be cut back (\(String(cString: strerror(errno))))"
        }
        throw error
      }
      state.size = start + off_t(header.bytes.count + payload.count)
      state.dirty = true
      if policy == .always {
        guard operations.fsync(state.descriptor) == 0 else {
          let reason = String(cString: strerror(errno))
          if operations.truncate(state.descriptor, start) == 0 { state.size = start }
          state.failure = "fsync failed (\(reason))"
          throw StorageError("fsync failed: \(reason); the record was not acknowledged")
        }
        state.dirty = false
      }
    }
  }

  /// Under the `interval` policy, fsyncs if a second has passed since the last
  /// one. A failure stops all later writes (see the type's documentation).
  public func syncIfDue() throws {
    try state.withLock { state in
      guard state.dirty, state.failure == nil, state.descriptor >= 0, ContinuousClock.now - state.lastSync >= .seconds(1) else { return }
      try Self.sync(&state, operations)
    }
  }

  /// fsyncs now. A failure stops all later writes.
  public func sync() throws {
    try state.withLock { state in
      guard state.descriptor >= 0, state.dirty else { return }
      try Self.sync(&state, operations)
    }
  }

  private static func sync(_ state: inout State, _ operations: FileOperations) throws {
    guard operations.fsync(state.descriptor) == 0 else {
      let reason = String(cString: strerror(errno))
      state.failure = "fsync failed (\(reason))"
      throw StorageError("fsync of the log failed: \(reason); records since the last good fsync may be lost on power failure, and writes are refused until restart")
    }
    state.dirty = false
    state.lastSync = .now
  }

  /// Starts a new log segment for the records after `sequence`, the last one a
  /// snapshot about to be written will hold. Cheap: the snapshot itself can then
  /// be encoded and written (`writeSnapshot`) while appends continue.
  public func rotate(after sequence: UInt64) throws {
    try state.withLock { state in
      let next = try openSegment(startingAfter: sequence)
      // Everything in the old segment is flushed by the next fsync of the policy or the snapshot.
      if state.descriptor >= 0 {
        if state.dirty, let failure = Self.fsyncFailure(operations, state.descriptor) { state.failure = failure }
        close(state.descriptor)
      }
      state.descriptor = next
      state.segmentStart = sequence
      state.size = lseek(next, 0, SEEK_END)
      state.dirty = false
    }
  }

  private static func fsyncFailure(_ operations: FileOperations, _ fd: Int32) -> String? {
    operations.fsync(fd) == 0 ? nil : "fsync failed (\(String(cString: strerror(errno))))"
  }

  /// Writes a snapshot of everything up to `sequence` atomically (after
  /// `rotate(after: sequence)`), then deletes files no recovery needs any more.
  public func writeSnapshot(sequence: UInt64, payload: [UInt8]) throws {
    // Pruning after this snapshot relies on no record after `sequence` sitting in an older segment.
    guard state.withLock({ $0.segmentStart }) == sequence else {
      throw StorageError("a snapshot at \(sequence) needs rotate(after: \(sequence)) first")
    }
    var file = BinaryWriter()
    file.append(Self.snapshotMagic)
    file.write(sequence)
    file.write(UInt64(payload.count))
    file.write(crc32(payload))
    file.append(payload)
    let final = directory.appendingPathComponent(String(format: "snapshot-%020llu.bin", sequence))
    let temporary = directory.appendingPathComponent(".snapshot.tmp")
    let fd = Glibc.open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw StorageError("cannot write \(temporary.path): \(String(cString: strerror(errno)))") }
    do {
      try Self.writeAll(.system, fd, file.bytes)
      guard fsync(fd) == 0 else { throw StorageError("fsync of the snapshot failed") }
      close(fd)
    } catch {
      close(fd)
      throw error
    }
    guard rename(temporary.path, final.path) == 0 else { throw StorageError("cannot rename the snapshot: \(String(cString: strerror(errno)))") }
    try syncDirectory()
    try pruneFiles()
  }

  // MARK: Files

  private func openSegment(startingAfter sequence: UInt64) throws -> Int32 {
    let url = directory.appendingPathComponent(String(format: "wal-%020llu.log", sequence))
    let fd = Glibc.open(url.path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
    guard fd >= 0 else { throw StorageError("cannot open \(url.path): \(String(cString: strerror(errno)))") }
    do {
      try syncDirectory()
    } catch {
      close(fd)
      throw error
    }
    return fd
  }

  private func pruneFiles() throws {
    let snapshots = try files(prefix: "snapshot-", suffix: ".bin").sorted { $0.sequence > $1.sequence }
    for old in snapshots.dropFirst(2) { try? FileManager.default.removeItem(at: old.url) }
    guard snapshots.count >= 2 else { return }
    let oldestKept = snapshots[1].sequence
    for segment in try files(prefix: "wal-", suffix: ".log") where segment.sequence < oldestKept {
      try? FileManager.default.removeItem(at: segment.url)
    }
  }

  private func files(prefix: String, suffix: String) throws -> [(url: URL, sequence: UInt64)] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).compactMap { name in
      guard name.hasPrefix(prefix), name.hasSuffix(suffix),
        let sequence = UInt64(name.dropFirst(prefix.count).dropLast(suffix.count))
      else { return nil }
      return (directory.appendingPathComponent(name), sequence)
    }
  }

  private func readSnapshot(_ url: URL) throws -> [UInt8] {
    let bytes = try DurableFiles.read(url)
    var reader = BinaryReader(bytes)
    guard try reader.readBytes(8) == Self.snapshotMagic else { throw StorageError("not a bct snapshot") }
    _ = try reader.read(UInt64.self)
    let declared = try reader.read(UInt64.self)
    guard let length = Int(exactly: declared), length <= reader.remaining - 4 else {
      throw StorageError("the snapshot declares \(declared) payload bytes; the file holds \(bytes.count)")
    }
    let checksum = try reader.read(UInt32.self)
    let payload = try reader.readBytes(length)
    guard crc32(payload) == checksum else { throw StorageError("checksum mismatch") }
    return payload
  }

  private static func parseRecord(_ bytes: [UInt8], at offset: Int) -> (UInt64, [UInt8], Int)? {
    var reader = BinaryReader(bytes, offset: offset)
    guard let length = try? reader.read(UInt32.self), let checksum = try? reader.read(UInt32.self),
      length >= 8, let body = try? reader.readBytes(Int(length)), crc32(body) == checksum
    else { return nil }
    var bodyReader = BinaryReader(body)
    guard let sequence = try? bodyReader.read(UInt64.self) else { return nil }
    return (sequence, Array(body[8...]), reader.offset)
  }

  /// Writes every byte of `bytes` to `fd`, retrying short and interrupted writes.
  static func writeAll(_ operations: FileOperations, _ fd: Int32, _ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try writeAll(operations, fd, $0) }
  }

  /// Writes every byte of `raw` to `fd`, retrying short and interrupted writes.
  public static func writeAll(_ operations: FileOperations, _ fd: Int32, _ raw: UnsafeRawBufferPointer) throws {
    var written = 0
    while written < raw.count {
      let n = operations.write(fd, raw.baseAddress! + written, raw.count - written)
      if n < 0 {
        if errno == EINTR { continue }
        throw StorageError("write failed: \(String(cString: strerror(errno)))")
      }
      written += n
    }
  }

  private func syncDirectory() throws {
    try DurableFiles.syncDirectory(directory)
  }

}
