import BCTStorage
import Foundation
import Testing

/// Recovery when the damage is not at the end of the newest segment: what a
/// snapshot covers costs nothing, a real gap never lets old records return.
@Suite("Log recovery: damage in older segments, gaps, hostile snapshot lengths")
struct RecoveryGapTests {
  typealias Log = DurableLogTests

  static func segmentURL(_ dir: URL, startingAfter sequence: UInt64) -> URL {
    dir.appendingPathComponent(String(format: "wal-%020llu.log", sequence))
  }

  /// Flips a byte in the middle of a segment's first record.
  static func corruptFirstRecord(_ url: URL) throws {
    var bytes = try Data(contentsOf: url)
    bytes[20] ^= 0x5A
    try bytes.write(to: url)
  }

  static func sequences(_ recovery: DurableLog.Recovery) -> [UInt64] { recovery.records.map(\.sequence) }

  @Test("a corrupt record in a segment the newest snapshot covers loses nothing after it")
  func coveredSegment() throws {
    let dir = Log.folder()
    try Log.write(dir, records: 1...10, snapshotAt: 4)
    try Log.write(dir, records: 11...20, snapshotAt: 15)
    // wal-10 holds 11...15, all inside snapshot 15; wal-15 holds 16...20.
    try Self.corruptFirstRecord(Self.segmentURL(dir, startingAfter: 10))
    let recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.snapshot?.sequence == 15)
    #expect(Self.sequences(recovery) == Array(16...20).map(UInt64.init), "\(recovery.problems)")
    #expect(recovery.lastSequence == 20)
  }

  @Test("a gap after the snapshot: replay stops there, later segments go aside, and new records never meet old ones")
  func gapNeverReusesSequences() throws {
    let dir = Log.folder()
    try Log.write(dir, records: 1...10, snapshotAt: 4)
    try Log.write(dir, records: 11...20)
    // wal-4 holds 5...10, wal-10 holds 11...20: damage in wal-4's first record (5) leaves 5...20 unreachable.
    try Self.corruptFirstRecord(Self.segmentURL(dir, startingAfter: 4))
    let log = try DurableLog(directory: dir, policy: .always)
    let recovery = try log.recover()
    #expect(recovery.snapshot?.sequence == 4 && Self.sequences(recovery).isEmpty && recovery.lastSequence == 4)
    #expect(recovery.problems.contains { $0.contains("records are missing") }, "\(recovery.problems)")
    #expect(FileManager.default.fileExists(atPath: Self.segmentURL(dir, startingAfter: 10).path + ".orphaned"))
    // The service goes on from 4: its new records 5...8 must be what the next recovery returns.
    try log.open(after: recovery.lastSequence)
    for i in 5...8 { try log.append(sequence: UInt64(i), payload: Array("new \(i)".utf8)) }
    let again = try DurableLog(directory: dir, policy: .always).recover()
    #expect(Self.sequences(again) == [5, 6, 7, 8])
    #expect(again.records.map(\.payload) == (5...8).map { Array("new \($0)".utf8) })
    #expect(again.lastSequence == 8)
  }

  @Test("a snapshot whose length field says 2^63 or more falls back to the older snapshot", arguments: [UInt64(1) << 63, UInt64.max, UInt64(1) << 40])
  func hostileSnapshotLength(length: UInt64) throws {
    let dir = Log.folder()
    try Log.write(dir, records: 1...10, snapshotAt: 4)
    try Log.write(dir, records: 11...20, snapshotAt: 15)
    let newest = dir.appendingPathComponent(String(format: "snapshot-%020llu.bin", 15))
    var bytes = try Data(contentsOf: newest)
    // magic (8) + sequence (8), then the little-endian length.
    for i in 0..<8 { bytes[16 + i] = UInt8(truncatingIfNeeded: length >> (8 * UInt64(i))) }
    try bytes.write(to: newest)
    let recovery = try DurableLog(directory: dir, policy: .always).recover()
    #expect(recovery.snapshot?.sequence == 4)
    #expect(Self.sequences(recovery) == Array(5...20).map(UInt64.init))
    #expect(recovery.problems.first?.contains("unreadable") == true)
  }

  @Test("200 random framing mutations of segments and snapshots: recovery returns a gap-free prefix and never traps")
  func framingFuzz() throws {
    let dir = Log.folder()
    try Log.write(dir, records: 1...12, snapshotAt: 5)
    try Log.write(dir, records: 13...24, snapshotAt: 18)
    let pristine = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { !$0.hasPrefix(".") }.sorted()
    let originals = try pristine.map { try Data(contentsOf: dir.appendingPathComponent($0)) }
    var generator = SystemRandomNumberGenerator()
    let seed = UInt64.random(in: 0...UInt64.max, using: &generator)
    var random = SplitMix(seed: seed)
    for round in 0..<200 {
      let work = Log.folder()
      try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
      for (name, data) in zip(pristine, originals) { try data.write(to: work.appendingPathComponent(name)) }
      let victim = work.appendingPathComponent(pristine[Int(random.next() % UInt64(pristine.count))])
      var bytes = [UInt8](try Data(contentsOf: victim))
      guard !bytes.isEmpty else { continue }
      let at = Int(random.next() % UInt64(bytes.count))
      switch random.next() % 4 {
      case 0: bytes[at] ^= UInt8(truncatingIfNeeded: random.next() | 1)
      case 1: bytes = Array(bytes.prefix(at))
      case 2: for i in at..<min(at + 8, bytes.count) { bytes[i] = 0xFF }
      default: bytes.insert(contentsOf: [0xFF, 0xFF, 0xFF, 0x7F], at: at)
      }
      try Data(bytes).write(to: victim)
      let recovery = try DurableLog(directory: work, policy: .always).recover()
      let start = recovery.snapshot?.sequence ?? 0
      let got = Self.sequences(recovery)
      #expect(got == Array(stride(from: start + 1, through: recovery.lastSequence, by: 1)), "seed \(seed) round \(round)")
      #expect(recovery.lastSequence <= 24, "seed \(seed) round \(round)")
    }
  }
}

/// A small seeded generator for the fuzz rounds (the seed is printed on failure).
struct SplitMix {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}
