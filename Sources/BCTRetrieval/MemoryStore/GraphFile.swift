import BCTCollection
import BCTIndex
import BCTStorage
import Foundation
import Glibc
import Synchronization

/// The HNSW graphs of a snapshot, saved beside it (`graphs-SEQUENCE.bin`), so that a
/// restart reads them back instead of rebuilding them from the snapshot's vectors.
///
/// Layout: `BCTGRPH1`, u64 snapshot sequence, u32 segment count; per segment: u8
/// (1: the counterpart copy), version, u32 dimension, u32 M, u32 label count, each
/// label's id (u8 present, string), u64 graph length and the graph's bytes
/// (`HNSWIndex.writeGraph`); then the CRC-32 of everything before it. Written to a
/// temporary file, fsynced and renamed, like the snapshot; only the newest is kept.
/// A file that is torn, corrupt, saved for another snapshot or other parameters, or
/// that does not hold exactly the snapshot's vectors is not used: the segment is
/// rebuilt, and recovery says why.
enum GraphFile {
  /// One saved segment.
  struct Segment {
    /// Whether it is the counterpart copy's (a shadow upgrade's other vectors).
    var counterpart: Bool
    /// The model version of its vectors.
    var version: String
    /// The index, graph included.
    var index: HNSWIndex
  }

  private static let magic: [UInt8] = Array("BCTGRPH1".utf8)
  private static let prefix = "graphs-"
  private static let temporaryName = ".graphs.tmp"

  static func name(_ sequence: UInt64) -> String { String(format: "\(prefix)%020llu.bin", sequence) }

  /// Saves the HNSW segments of `state` (a detached copy: nothing changes it) for the
  /// snapshot at `sequence`, then removes every other graph file. Returns the bytes written
  /// (0 when no segment is HNSW: then only old files are removed).
  @discardableResult
  static func write(_ state: CollectionState, sequence: UInt64, directory: URL) throws -> Int {
    let segments = saved(of: state)
    var written = 0
    if !segments.isEmpty {
      let temporary = directory.appendingPathComponent(temporaryName)
      var file = try CheckedFile(creating: temporary)
      do {
        try write(segments, sequence: sequence, to: &file)
        written = try file.finish()
      } catch {
        file.abandon()
        throw error
      }
      try DurableFiles.rename(temporary, to: directory.appendingPathComponent(name(sequence)))
    }
    removeAll(in: directory, except: segments.isEmpty ? nil : sequence)
    return written
  }

  private static func write(_ segments: [Segment], sequence: UInt64, to file: inout CheckedFile) throws {
    var header = BinaryWriter()
    header.append(magic)
    header.write(sequence)
    header.write(UInt32(segments.count))
    try file.append(header.bytes)
    for segment in segments {
      var w = BinaryWriter()
      w.write(UInt8(segment.counterpart ? 1 : 0))
      w.write(segment.version)
      w.write(UInt32(segment.index.dimension))
      w.write(UInt32(segment.index.parameters.m))
      let table = segment.index.labelTable
      w.write(UInt32(table.count))
      for id in table {
        w.write(UInt8(id == nil ? 0 : 1))
        w.write(id ?? "")
      }
      w.write(UInt64(segment.index.graphByteCount))
      try file.append(w.bytes)
      try segment.index.writeGraph { try file.append($0) }
    }
  }

  /// The HNSW segments with a graph, of both copies.
  private static func saved(of state: CollectionState) -> [Segment] {
    var segments: [Segment] = []
    for (copy, isCounterpart) in [(state.index, false), (state.counterpart, true)] {
      for version in copy.versions {
        if let index = copy.segment(of: version) as? HNSWIndex, index.hasGraph {
          segments.append(Segment(counterpart: isCounterpart, version: version, index: index))
        }
      }
    }
    return segments
  }

  /// Removes the temporary file and every graph file but the one of `kept`.
  static func removeAll(in directory: URL, except kept: UInt64?) {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    for name in names where (name.hasPrefix(prefix) && name != kept.map(Self.name)) || name == temporaryName {
      try? FileManager.default.removeItem(at: directory.appendingPathComponent(name))
    }
  }

  /// The newest graph file of a folder, read on another thread while the store reads
  /// and decodes its snapshot (an HNSW store's restart does both at once).
  final class Prefetch: Sendable {
    private let done = DispatchGroup()
    private let result = Mutex<(name: String, read: Result<[Segment], any Error>)?>(nil)

    /// Starts reading the newest `graphs-*.bin` in `directory` when `indexKind` is HNSW.
    init(directory: URL, indexKind: IndexKind) {
      guard case .hnsw(let parameters) = indexKind, let newest = GraphFile.newest(in: directory) else { return }
      DispatchQueue.global().async(group: done) { [self] in
        let read = Result { try GraphFile.read(directory.appendingPathComponent(newest.name), sequence: newest.sequence, parameters: parameters) }
        self.result.withLock { $0 = (newest.name, read) }
      }
    }

    /// The segments read, if they were saved for the snapshot at `sequence`; none (with
    /// the reason in `problems`) otherwise. Waits for the read; later calls get none.
    func take(for sequence: UInt64?, problems: inout [String]) -> [Segment] {
      done.wait()
      guard let (name, read) = result.withLock({ state in defer { state = nil }; return state }) else { return [] }
      do {
        let segments = try read.get()
        guard let sequence, name == GraphFile.name(sequence) else { throw StorageError("saved for another snapshot") }
        return segments
      } catch {
        problems.append("saved graphs \(name) not used (\(error)); rebuilding the graphs from the snapshot")
        return []
      }
    }
  }

  /// The graph file with the highest sequence in `directory`.
  private static func newest(in directory: URL) -> (name: String, sequence: UInt64)? {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.compactMap { name -> (String, UInt64)? in
      guard name.hasPrefix(prefix), name.hasSuffix(".bin"), let sequence = UInt64(name.dropFirst(prefix.count).dropLast(4)) else { return nil }
      return (name, sequence)
    }.max { $0.1 < $1.1 }
  }

  private static func read(_ url: URL, sequence: UInt64, parameters: HNSWParameters) throws -> [Segment] {
    let bytes = try DurableFiles.read(url)
    guard bytes.count >= magic.count + 16 else { throw StorageError("the file is truncated") }
    let body = bytes.count - 4
    var trailer = BinaryReader(bytes, offset: body)
    let checksum = try trailer.read(UInt32.self)
    guard bytes.withUnsafeBytes({ crc32(UnsafeRawBufferPointer(rebasing: $0[..<body])) }) == checksum else {
      throw StorageError("checksum mismatch")
    }
    var r = BinaryReader(bytes)
    guard try r.readBytes(magic.count) == magic else { throw StorageError("not a bct graph file") }
    guard try r.read(UInt64.self) == sequence else { throw StorageError("saved for another snapshot") }
    let count = try r.readCount(elementBytes: 21)
    return try (0..<count).map { _ in try readSegment(&r, bytes: bytes, parameters: parameters) }
  }

  private static func readSegment(_ r: inout BinaryReader, bytes: [UInt8], parameters: HNSWParameters) throws -> Segment {
    let counterpart = try r.read(UInt8.self) == 1
    let version = try r.readString()
    let dimension = Int(try r.read(UInt32.self))
    guard Int(try r.read(UInt32.self)) == parameters.m else { throw StorageError("saved with another M") }
    let labels = try r.readCount(elementBytes: 5)
    var ids: [String?] = []
    ids.reserveCapacity(labels)
    for _ in 0..<labels {
      let present = try r.read(UInt8.self) == 1
      let id = try r.readString()
      ids.append(present ? id : nil)
    }
    let length = try r.read(UInt64.self)
    guard let graphLength = Int(exactly: length), graphLength <= r.remaining else { throw StorageError("the graph is truncated") }
    let start = r.offset
    _ = try r.skip(graphLength)
    let index = try bytes.withUnsafeBytes { raw in
      try HNSWIndex.reading(
        graph: UnsafeRawBufferPointer(rebasing: raw[start..<(start + graphLength)]), ids: ids, dimension: dimension,
        parameters: parameters)
    }
    return Segment(counterpart: counterpart, version: version, index: index)
  }
}

/// A file written through a buffer, with the CRC-32 of everything written appended
/// and the file fsynced by `finish`.
private struct CheckedFile {
  private let fd: Int32
  private let url: URL
  private var buffer: [UInt8] = []
  private var crc: UInt32 = 0
  private var written = 0

  init(creating url: URL) throws {
    fd = Glibc.open(url.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw StorageError("cannot create \(url.path): \(String(cString: strerror(errno)))") }
    self.url = url
    buffer.reserveCapacity(1 << 20)
  }

  mutating func append(_ bytes: [UInt8]) throws {
    try bytes.withUnsafeBytes { try append($0) }
  }

  mutating func append(_ bytes: UnsafeRawBufferPointer) throws {
    crc = crc32(bytes, continuing: crc)
    if buffer.count + bytes.count > 1 << 20 { try flush() }
    if bytes.count >= 1 << 20 {
      try DurableLog.writeAll(.system, fd, bytes)
    } else {
      buffer.append(contentsOf: bytes)
    }
    written += bytes.count
  }

  private mutating func flush() throws {
    try buffer.withUnsafeBytes { try DurableLog.writeAll(.system, fd, $0) }
    buffer.removeAll(keepingCapacity: true)
  }

  /// Appends the checksum, flushes, fsyncs and closes; returns the file's length.
  mutating func finish() throws -> Int {
    var trailer = BinaryWriter()
    trailer.write(crc)
    buffer.append(contentsOf: trailer.bytes)
    try flush()
    defer { close(fd) }
    guard fsync(fd) == 0 else { throw StorageError("fsync of \(url.path) failed: \(String(cString: strerror(errno)))") }
    return written + 4
  }

  /// Closes and removes the unfinished file.
  func abandon() {
    close(fd)
    unlink(url.path)
  }
}
