import BCTStorage
import Foundation
import Testing

@Suite("Write-ahead log and snapshots")
struct DurableLogTests {
  static func folder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("bct-wal-\(UUID().uuidString)")
  }

  static func payload(_ i: Int) -> [UInt8] { Array("record \(i) ".utf8) + [UInt8](repeating: UInt8(i % 251), count: i % 40) }

  static func write(_ dir: URL, records: ClosedRange<Int>, snapshotAt: Int? = nil) throws {
    let log = try DurableLog(directory: dir, policy: .always)
    let recovered = try log.recover()
    try log.open(after: recovered.lastSequence)
    for i in records {
      try log.append(sequence: UInt64(i), payload: payload(i))
      if i == snapshotAt { try log.rotate(after: UInt64(i)); try log.writeSnapshot(sequence: UInt64(i), payload: Array("state@\(i)".utf8)) }
    }
  }

  static func segment(_ dir: URL) throws -> URL {
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasPrefix("wal-") }.sorted()
    return dir.appendingPathComponent(names.last!)
  }

  @Test("records come back in order after reopening")
  func replay() throws {
    let dir = Self.folder()
    try Self.write(dir, records: 1...20)
    let recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.problems.isEmpty && recovery.snapshot == nil)
    #expect(recovery.records.map(\.sequence) == Array(1...20).map(UInt64.init))
    #expect(recovery.records.map(\.payload) == (1...20).map(Self.payload))
  }

  @Test("a torn tail is detected, dropped and truncated; appends after it are clean", arguments: [1, 5, 11])
  func tornTail(cut: Int) throws {
    let dir = Self.folder()
    try Self.write(dir, records: 1...10)
    let url = try Self.segment(dir)
    let bytes = try Data(contentsOf: url)
    try bytes.prefix(bytes.count - cut).write(to: url)
    let log = try DurableLog(directory: dir, policy: .always)
    let recovery = try log.recover()
    #expect(recovery.records.map(\.sequence) == Array(1...9).map(UInt64.init))
    #expect(recovery.problems.count == 1 && recovery.problems[0].contains("torn or corrupt record"))
    try log.open(after: recovery.lastSequence)
    try log.append(sequence: 10, payload: Array("again".utf8))
    let again = try DurableLog(directory: dir, policy: .always).recover()
    #expect(again.problems.isEmpty && again.records.last?.payload == Array("again".utf8) && again.records.count == 10)
  }

  @Test("a corrupted byte fails the checksum: that record and the rest of the segment are dropped")
  func checksum() throws {
    let dir = Self.folder()
    try Self.write(dir, records: 1...10)
    let url = try Self.segment(dir)
    var bytes = try Data(contentsOf: url)
    bytes[bytes.count - 3] ^= 0x40
    try bytes.write(to: url)
    let recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.records.count == 9 && recovery.problems.first?.contains("corrupt") == true)
  }

  @Test("snapshot + later records; a corrupt newest snapshot falls back to the older one and its log")
  func snapshots() throws {
    let dir = Self.folder()
    try Self.write(dir, records: 1...10, snapshotAt: 4)
    try Self.write(dir, records: 11...20, snapshotAt: 15)
    var recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.snapshot?.sequence == 15 && recovery.snapshot?.payload == Array("state@15".utf8))
    #expect(recovery.records.map(\.sequence) == Array(16...20).map(UInt64.init))

    let newest = dir.appendingPathComponent(String(format: "snapshot-%020llu.bin", 15))
    var bytes = try Data(contentsOf: newest)
    bytes[bytes.count - 1] ^= 0xFF
    try bytes.write(to: newest)
    recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.problems.first?.contains("unreadable") == true)
    #expect(recovery.snapshot?.sequence == 4)
    #expect(recovery.records.map(\.sequence) == Array(5...20).map(UInt64.init))
    #expect(recovery.lastSequence == 20)
  }

  @Test("old snapshots and log segments are pruned: two snapshots kept")
  func pruning() throws {
    let dir = Self.folder()
    try Self.write(dir, records: 1...30, snapshotAt: 10)
    try Self.write(dir, records: 31...40, snapshotAt: 35)
    try Self.write(dir, records: 41...50, snapshotAt: 45)
    let names = try FileManager.default.contentsOfDirectory(atPath: dir.path).sorted()
    #expect(names.filter { $0.hasPrefix("snapshot-") }.count == 2)
    #expect(!names.contains(String(format: "wal-%020llu.log", 0)))
    let recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.snapshot?.sequence == 45 && recovery.records.map(\.sequence) == Array(46...50).map(UInt64.init))
  }

  @Test("binary coding round-trips and rejects truncated input")
  func coding() throws {
    var writer = BinaryWriter()
    writer.write("héllo")
    writer.write([Float(1.5), -2, .pi])
    writer.write(["b": "2", "a": "1"])
    writer.write([3, 1, 4])
    var reader = BinaryReader(writer.bytes)
    #expect(try reader.readString() == "héllo")
    #expect(try reader.readFloats() == [1.5, -2, .pi])
    #expect(try reader.readMap() == ["a": "1", "b": "2"])
    #expect(try reader.readInts() == [3, 1, 4])
    var short = BinaryReader(Array(writer.bytes.prefix(7)))
    #expect(throws: StorageError.self) { try short.readString() }
  }
}

@Suite("Data directory lock")
struct DirectoryLockTests {
  @Test("one holder per folder: a second lock is refused at once, and granted after the first is released")
  func exclusive() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bct-lock-\(UUID().uuidString)")
    var first: DirectoryLock? = try DirectoryLock(dir)
    #expect(first?.directory == dir)
    #expect {
      try DirectoryLock(dir)
    } throws: { error in
      "\(error)".contains("is locked") && "\(error)".contains("another process holds it")
    }
    first = nil
    _ = try DirectoryLock(dir)
  }
}
