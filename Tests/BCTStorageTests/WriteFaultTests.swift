import BCTStorage
import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A file layer that fails on cue: a short write followed by ENOSPC, EIO on
/// fsync, or a failing truncate, each on the n-th call.
final class FaultyFiles: Sendable {
  enum Fault: Sendable { case shortWriteThenENOSPC, fsyncEIO, writeEIOAndTruncateFails }
  private let plan = Mutex<(fault: Fault?, afterCalls: Int)>((nil, 0))
  let injected = Mutex(0)
  private let failNextWrite = Mutex<Int32?>(nil)
  private let truncateFails = Mutex(false)

  /// Fails the next matching call after `calls` good ones.
  func arm(_ fault: Fault, after calls: Int = 0) { plan.withLock { $0 = (fault, calls) } }

  private func due(_ kinds: [Fault]) -> Fault? {
    plan.withLock { plan -> Fault? in
      guard let fault = plan.fault, kinds.contains(fault) else { return nil }
      if plan.afterCalls > 0 {
        plan.afterCalls -= 1
        return nil
      }
      plan.fault = nil
      injected.withLock { $0 += 1 }
      return fault
    }
  }

  var operations: FileOperations {
    FileOperations(
      write: { fd, bytes, count in
        if let code = self.failNextWrite.withLock({ code in defer { code = nil }; return code }) {
          errno = code
          return -1
        }
        switch self.due([.shortWriteThenENOSPC, .writeEIOAndTruncateFails]) {
        case .shortWriteThenENOSPC:
          // Half the bytes reach the file (a short write); the rest finds the disk full.
          self.failNextWrite.withLock { $0 = ENOSPC }
          return Glibc.write(fd, bytes, max(1, count / 2))
        case .writeEIOAndTruncateFails:
          self.failNextWrite.withLock { $0 = EIO }
          self.truncateFails.withLock { $0 = true }
          return Glibc.write(fd, bytes, max(1, count / 3))
        default:
          return Glibc.write(fd, bytes, count)
        }
      },
      fsync: { fd in
        if self.due([.fsyncEIO]) != nil {
          errno = EIO
          return -1
        }
        return Glibc.fsync(fd)
      },
      truncate: { fd, length in
        if self.truncateFails.withLock({ fails in defer { fails = false }; return fails }) {
          errno = EIO
          return -1
        }
        return ftruncate(fd, length)
      })
  }
}

@Suite("Write failures: cut back, never reused, never ignored")
struct WriteFaultTests {
  static func payload(_ i: Int) -> [UInt8] { Array("record \(i) ".utf8) + [UInt8](repeating: UInt8(i % 251), count: 50 + i % 40) }

  static func open(_ dir: URL, _ files: FaultyFiles? = nil, policy: DurableLog.SyncPolicy = .always) throws -> DurableLog {
    let log = try DurableLog(directory: dir, policy: policy, operations: files?.operations ?? .system)
    try log.open(after: try log.recover().lastSequence)
    return log
  }

  @Test("a short write then ENOSPC: the append fails, the partial record is cut off, later appends and recovery are right")
  func shortWrite() throws {
    let dir = DurableLogTests.folder()
    let files = FaultyFiles()
    let log = try Self.open(dir, files)
    for i in 1...5 { try log.append(sequence: UInt64(i), payload: Self.payload(i)) }
    let size = try FileManager.default.attributesOfItem(atPath: try DurableLogTests.segment(dir).path)[.size] as! Int
    files.arm(.shortWriteThenENOSPC)
    #expect(throws: StorageError.self) { try log.append(sequence: 6, payload: Self.payload(6)) }
    #expect(files.injected.withLock { $0 } == 1)
    #expect(try FileManager.default.attributesOfItem(atPath: try DurableLogTests.segment(dir).path)[.size] as! Int == size, "the partial record is gone")
    #expect(log.failure == nil, "a cleanly cut write leaves the log writable")
    for i in 6...9 { try log.append(sequence: UInt64(i), payload: Self.payload(i)) }
    let recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.problems.isEmpty)
    #expect(recovery.records.map(\.sequence) == (1...9).map(UInt64.init), "each number once, in order")
    #expect(recovery.records.map(\.payload) == (1...9).map(Self.payload))
  }

  @Test("EIO on fsync: the append fails, its record is cut off, and every later write is refused until restart")
  func fsyncFailure() throws {
    let dir = DurableLogTests.folder()
    let files = FaultyFiles()
    let log = try Self.open(dir, files)
    for i in 1...3 { try log.append(sequence: UInt64(i), payload: Self.payload(i)) }
    files.arm(.fsyncEIO)
    #expect(throws: StorageError.self) { try log.append(sequence: 4, payload: Self.payload(4)) }
    #expect(log.failure?.contains("fsync failed") == true)
    #expect(throws: StorageError.self) { try log.append(sequence: 4, payload: Self.payload(4)) }
    let reopened = try Self.open(dir)
    try reopened.append(sequence: 4, payload: Self.payload(40))
    let recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.records.map(\.sequence) == [1, 2, 3, 4])
    #expect(recovery.records.last?.payload == Self.payload(40), "the unacknowledged record did not survive")
  }

  @Test("under the interval policy an fsync error is reported, not ignored, and stops writes")
  func intervalSyncFailure() throws {
    let dir = DurableLogTests.folder()
    let files = FaultyFiles()
    let log = try Self.open(dir, files, policy: .interval)
    try log.append(sequence: 1, payload: Self.payload(1))
    files.arm(.fsyncEIO)
    #expect(throws: StorageError.self) { try log.sync() }
    #expect(throws: StorageError.self) { try log.append(sequence: 2, payload: Self.payload(2)) }
  }

  @Test("a failed write whose cut-back fails too: the log refuses writes; recovery drops the partial record and keeps the rest")
  func cutBackFails() throws {
    let dir = DurableLogTests.folder()
    let files = FaultyFiles()
    let log = try Self.open(dir, files)
    for i in 1...4 { try log.append(sequence: UInt64(i), payload: Self.payload(i)) }
    files.arm(.writeEIOAndTruncateFails)
    #expect(throws: StorageError.self) { try log.append(sequence: 5, payload: Self.payload(5)) }
    #expect(log.failure != nil)
    #expect(throws: StorageError.self) { try log.append(sequence: 5, payload: Self.payload(5)) }
    let recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.records.map(\.sequence) == [1, 2, 3, 4])
    #expect(recovery.problems.count == 1, "the torn record is reported")
  }
}
