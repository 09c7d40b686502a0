import BCTCollection
import BCTIndex
import BCTStorage

/// Log records and snapshots of a collection. Records and snapshots written
/// before shadow upgrades existed (kinds 1-5, snapshots without the format
/// marker) still decode.
extension Mutation {
  private enum Kind: UInt8 {
    case legacyUpsert = 1, delete, reembed, setDocumentVersion, legacySetBackfill
    case upsert, setBackfill, shadowEmbed, startShadow, switchShadow, rollbackShadow, finalizeShadow
  }

  /// The mutation's log record.
  public func encoded() -> [UInt8] {
    var w = BinaryWriter()
    switch self {
    case .upsert(let docs):
      w.write(Kind.upsert.rawValue)
      w.write(UInt32(docs.count))
      for doc in docs { doc.encode(into: &w) }
    case .delete(let ids):
      w.write(Kind.delete.rawValue)
      w.write(UInt32(ids.count))
      for id in ids { w.write(id) }
    case .reembed(let items):
      w.write(Kind.reembed.rawValue)
      Reembedded.encode(items, into: &w)
    case .shadowEmbed(let items):
      w.write(Kind.shadowEmbed.rawValue)
      Reembedded.encode(items, into: &w)
    case .setDocumentVersion(let version):
      w.write(Kind.setDocumentVersion.rawValue)
      w.write(version)
    case .setBackfill(let plan):
      w.write(Kind.setBackfill.rawValue)
      BackfillPlan.encode(plan, into: &w)
    case .startShadow(let upgrade, let plan):
      w.write(Kind.startShadow.rawValue)
      ShadowUpgrade.encode(upgrade, into: &w)
      BackfillPlan.encode(plan, into: &w)
    case .switchShadow(let at):
      w.write(Kind.switchShadow.rawValue)
      w.write(at.bitPattern)
    case .rollbackShadow:
      w.write(Kind.rollbackShadow.rawValue)
    case .finalizeShadow:
      w.write(Kind.finalizeShadow.rawValue)
    }
    return w.bytes
  }

  /// Decodes a log record.
  public static func decode(_ bytes: [UInt8]) throws -> Mutation {
    var r = BinaryReader(bytes)
    guard let kind = Kind(rawValue: try r.read(UInt8.self)) else { throw StorageError("unknown record kind") }
    switch kind {
    case .legacyUpsert, .upsert:
      let count = try r.readCount(elementBytes: StoredDocument.minimumEncodedBytes)
      return .upsert(try (0..<count).map { _ in try StoredDocument.decode(from: &r, withCounterpart: kind == .upsert) })
    case .delete:
      let count = try r.readCount(elementBytes: 4)
      return .delete(try (0..<count).map { _ in try r.readString() })
    case .reembed:
      return .reembed(try Reembedded.decodeAll(from: &r))
    case .shadowEmbed:
      return .shadowEmbed(try Reembedded.decodeAll(from: &r))
    case .setDocumentVersion:
      return .setDocumentVersion(try r.readString())
    case .legacySetBackfill, .setBackfill:
      return .setBackfill(try BackfillPlan.decode(from: &r, withMode: kind == .setBackfill))
    case .startShadow:
      guard let upgrade = try ShadowUpgrade.decode(from: &r) else { throw StorageError("shadow upgrade record without the upgrade") }
      guard let plan = try BackfillPlan.decode(from: &r, withMode: true) else { throw StorageError("shadow upgrade without a plan") }
      return .startShadow(upgrade, plan)
    case .switchShadow:
      return .switchShadow(at: Double(bitPattern: try r.read(UInt64.self)))
    case .rollbackShadow:
      return .rollbackShadow
    case .finalizeShadow:
      return .finalizeShadow
    }
  }
}

extension Mutation.Reembedded {
  static func encode(_ items: [Self], into w: inout BinaryWriter) {
    w.write(UInt32(items.count))
    for item in items {
      w.write(item.id)
      w.write(item.version)
      w.write(item.vector)
    }
  }

  static func decodeAll(from r: inout BinaryReader) throws -> [Self] {
    let count = try r.readCount(elementBytes: 12)
    return try (0..<count).map { _ in Self(id: try r.readString(), version: try r.readString(), vector: try r.readFloats()) }
  }
}

extension BackfillPlan {
  static func encode(_ plan: BackfillPlan?, into w: inout BinaryWriter) {
    w.write(UInt8(plan == nil ? 0 : 1))
    guard let plan else { return }
    w.write(plan.target)
    w.write(UInt32(plan.batchSize))
    w.write(plan.rate.bitPattern)
    w.write(UInt8(plan.shadow ? 1 : 0))
  }

  static func decode(from r: inout BinaryReader, withMode: Bool) throws -> BackfillPlan? {
    guard try r.read(UInt8.self) == 1 else { return nil }
    let target = try r.readString()
    let batchSize = Int(try r.read(UInt32.self))
    let rate = Double(bitPattern: try r.read(UInt64.self))
    let shadow = withMode ? try r.read(UInt8.self) == 1 : false
    return BackfillPlan(target: target, batchSize: batchSize, rate: rate, shadow: shadow)
  }
}

extension ShadowUpgrade {
  static func encode(_ upgrade: ShadowUpgrade?, into w: inout BinaryWriter) {
    w.write(UInt8(upgrade == nil ? 0 : 1))
    guard let upgrade else { return }
    w.write(upgrade.target)
    w.write(UInt32(upgrade.previousVersions.count))
    for version in upgrade.previousVersions { w.write(version) }
    w.write(upgrade.previousDocumentVersion ?? "")
    w.write(upgrade.graceSeconds.bitPattern)
    w.write(upgrade.reason)
    w.write((upgrade.switchedAt ?? -1).bitPattern)
  }

  static func decode(from r: inout BinaryReader) throws -> ShadowUpgrade? {
    guard try r.read(UInt8.self) == 1 else { return nil }
    let target = try r.readString()
    let previous = try (0..<(try r.readCount(elementBytes: 4))).map { _ in try r.readString() }
    let documentVersion = try r.readString()
    let grace = Double(bitPattern: try r.read(UInt64.self))
    let reason = try r.readString()
    let switchedAt = Double(bitPattern: try r.read(UInt64.self))
    return ShadowUpgrade(target: target, previousVersions: previous, previousDocumentVersion: documentVersion.isEmpty ? nil : documentVersion,
                         graceSeconds: grace, reason: reason, switchedAt: switchedAt < 0 ? nil : switchedAt)
  }
}

extension StoredDocument {
  /// Bytes of the smallest encoded document (empty id, metadata, shape, input, version, vector).
  static let minimumEncodedBytes = 24

  func encode(into w: inout BinaryWriter) {
    w.write(id)
    w.write(metadata)
    w.write(inputShape)
    w.write(input)
    w.write(version)
    w.write(vector)
    w.write(UInt8(counterpart == nil ? 0 : 1))
    if let counterpart {
      w.write(counterpart.version)
      w.write(counterpart.vector)
    }
  }

  static func decode(from r: inout BinaryReader, withCounterpart: Bool) throws -> StoredDocument {
    var doc = StoredDocument(
      id: try r.readString(), metadata: try r.readMap(), inputShape: try r.readInts(), input: try r.readFloats(),
      version: try r.readString(), vector: try r.readFloats())
    if withCounterpart, try r.read(UInt8.self) == 1 {
      doc.counterpart = VersionedVector(version: try r.readString(), vector: try r.readFloats())
    }
    return doc
  }
}

extension CollectionState {
  /// Marks snapshots that carry the shadow upgrade; an older snapshot starts
  /// with the length of its document version, never this large.
  private static let formatMarker: UInt32 = 0xBC7_5202

  /// The whole state as a snapshot payload.
  public func encoded() -> [UInt8] {
    var w = BinaryWriter()
    w.write(Self.formatMarker)
    w.write(documentVersion ?? "")
    BackfillPlan.encode(backfill, into: &w)
    ShadowUpgrade.encode(shadow, into: &w)
    // A document without a searchable vector (left out at replay, see `problems`) is not carried on.
    let kept = documents.keys.sorted().compactMap { document($0) }
    w.write(UInt32(kept.count))
    for doc in kept { doc.encode(into: &w) }
    return w.bytes
  }

  /// Rebuilds a state from a snapshot payload, its segments indexed as `indexKind`
  /// and built from the snapshot's vectors.
  public static func decode(_ bytes: [UInt8], indexKind: IndexKind = .flat) throws -> CollectionState {
    try decode(bytes, indexKind: indexKind, saved: { [] })
  }

  /// Rebuilds a state from a snapshot payload, its segments indexed as `indexKind`
  /// (snapshots hold vectors, not index structures): each of the `saved` graphs (asked
  /// for once the documents are decoded) that
  /// holds exactly the snapshot's vectors of its copy and version is taken as that
  /// segment; every other segment is built from the vectors.
  static func decode(_ bytes: [UInt8], indexKind: IndexKind, saved: () -> [GraphFile.Segment]) throws -> CollectionState {
    var r = BinaryReader(bytes)
    var probe = r
    let current = try probe.read(UInt32.self) == formatMarker
    if current { r = probe }
    var state = CollectionState(indexKind: indexKind)
    let version = try r.readString()
    let plan = try BackfillPlan.decode(from: &r, withMode: current)
    let upgrade = current ? try ShadowUpgrade.decode(from: &r) : nil
    let count = try r.readCount(elementBytes: StoredDocument.minimumEncodedBytes)
    var docs: [StoredDocument] = []
    docs.reserveCapacity(count)
    for _ in 0..<count { docs.append(try StoredDocument.decode(from: &r, withCounterpart: current)) }
    if let upgrade {
      state.apply(.startShadow(upgrade, plan ?? BackfillPlan(target: upgrade.target, batchSize: 1, rate: 0, shadow: true)))
    }
    var segments = saved()
    let adopted = state.adopt(&segments, matching: docs)
    state.upsert(docs, indexed: adopted)
    if !version.isEmpty { state.apply(.setDocumentVersion(version)) }
    state.apply(.setBackfill(plan))
    return state
  }
}

extension CollectionState {
  /// Takes each saved segment that holds exactly the vectors `docs` give its copy and
  /// version (the counterpart's only during a shadow upgrade), emptying `saved` so that
  /// the taken graphs are held once; notes each one left out. Returns the taken ones.
  mutating func adopt(_ saved: inout [GraphFile.Segment], matching docs: [StoredDocument]) -> IndexedSegments {
    var adopted = IndexedSegments()
    while let segment = saved.popLast() {
      let copy = segment.counterpart ? "counterpart" : "searched"
      let expected: [(id: String, vector: [Float])] = docs.compactMap { doc in
        if !segment.counterpart { return doc.version == segment.version ? (doc.id, doc.vector) : nil }
        guard let other = doc.counterpart, other.version == segment.version else { return nil }
        return (doc.id, other.vector)
      }
      // Writers save only segments holding vectors; an empty one stands for nothing.
      guard !expected.isEmpty else { continue }
      let free = (segment.counterpart ? counterpart : index).segment(of: segment.version) == nil
      guard free, !segment.counterpart || shadow != nil, segment.index.holdsExactly(expected) else {
        note(problem: "the saved \(copy) graph of \(segment.version) does not hold exactly the snapshot's vectors; rebuilt")
        continue
      }
      adopt(segment.index, version: segment.version, counterpart: segment.counterpart)
      if segment.counterpart { adopted.counterpart.insert(segment.version) } else { adopted.searched.insert(segment.version) }
    }
    return adopted
  }
}
