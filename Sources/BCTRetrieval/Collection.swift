import BCTIndex
import BCTNumerics
import BCTStorage

/// A document as stored: metadata, the raw input it was embedded from (kept so a
/// backfill can re-embed it), and its vector with the version that made it.
public struct StoredDocument: Sendable, Equatable {
  /// Caller-chosen id.
  public var id: String
  /// Caller metadata, returned with search hits.
  public var metadata: [String: String]
  /// Shape of one raw input (e.g. [1, 28, 28]); empty when no raw input is kept.
  public var inputShape: [Int]
  /// The raw input values; empty when the document came as an embedding only.
  public var input: [Float]
  /// The model version that made `vector`.
  public var version: String
  /// The embedding.
  public var vector: [Float]

  /// A document.
  public init(id: String, metadata: [String: String], inputShape: [Int], input: [Float], version: String, vector: [Float]) {
    self.id = id
    self.metadata = metadata
    self.inputShape = inputShape
    self.input = input
    self.version = version
    self.vector = vector
  }
}

/// A backfill in progress: re-embed every document whose vector is not of `target`.
public struct BackfillPlan: Sendable, Equatable {
  /// The version to re-embed to.
  public var target: String
  /// Documents per encoder call.
  public var batchSize: Int
  /// Documents per second at most (0: unlimited).
  public var rate: Double

  /// A plan.
  public init(target: String, batchSize: Int, rate: Double) {
    self.target = target
    self.batchSize = batchSize
    self.rate = rate
  }
}

/// One logged change of a collection; replaying them in order rebuilds it.
public enum Mutation: Sendable, Equatable {
  /// Insert or replace documents.
  case upsert([StoredDocument])
  /// Remove documents by id.
  case delete([String])
  /// Replace the vectors of existing documents (a backfill batch): id, version, vector.
  case reembed([Reembedded])
  /// The version new raw documents are embedded with.
  case setDocumentVersion(String)
  /// Start (or, with nil, end) a backfill.
  case setBackfill(BackfillPlan?)

  /// A re-embedded vector.
  public struct Reembedded: Sendable, Equatable {
    /// Document id.
    public var id: String
    /// The new vector's version.
    public var version: String
    /// The new vector.
    public var vector: [Float]

    /// A re-embedded vector.
    public init(id: String, version: String, vector: [Float]) {
      self.id = id
      self.version = version
      self.vector = vector
    }
  }
}

/// The documents, their index and the collection settings, in memory.
public struct CollectionState: Sendable {
  /// Documents without their vectors (those live in `index`).
  public private(set) var documents: [String: DocumentBody] = [:]
  /// Vectors by version.
  public private(set) var index = VersionedIndex()
  /// The version raw upserts are embedded with; nil until the first one.
  public private(set) var documentVersion: String?
  /// The backfill in progress, if any.
  public private(set) var backfill: BackfillPlan?
  /// Bytes of raw inputs and metadata kept.
  public private(set) var rawInputBytes = 0
  public private(set) var metadataBytes = 0

  /// What is kept per document besides its vector.
  public struct DocumentBody: Sendable, Equatable {
    /// Metadata.
    public var metadata: [String: String]
    /// Raw input shape (empty without a raw input).
    public var inputShape: [Int]
    /// Raw input values.
    public var input: [Float]
  }

  /// An empty collection.
  public init() {}

  /// The stored document `id`, with its vector.
  public func document(_ id: String) -> StoredDocument? {
    guard let body = documents[id], let version = index.version(of: id), let vector = index.vector(for: id) else { return nil }
    return StoredDocument(id: id, metadata: body.metadata, inputShape: body.inputShape, input: body.input, version: version, vector: vector)
  }

  /// Applies one change.
  public mutating func apply(_ mutation: Mutation) {
    switch mutation {
    case .upsert(let docs):
      var byVersion: [String: [StoredDocument]] = [:]
      for doc in docs {
        account(removing: documents[doc.id])
        let body = DocumentBody(metadata: doc.metadata, inputShape: doc.inputShape, input: doc.input)
        documents[doc.id] = body
        account(adding: body)
        byVersion[doc.version, default: []].append(doc)
      }
      for (version, group) in byVersion.sorted(by: { $0.key < $1.key }) {
        let dim = group[0].vector.count
        index.upsert(ids: group.map(\.id), vectors: Matrix(rows: group.count, columns: dim, values: group.flatMap(\.vector)), version: version)
      }
    case .delete(let ids):
      for id in ids { account(removing: documents.removeValue(forKey: id)) }
      index.remove(ids: ids)
    case .reembed(let items):
      var byVersion: [String: [Mutation.Reembedded]] = [:]
      for item in items where documents[item.id] != nil { byVersion[item.version, default: []].append(item) }
      for (version, group) in byVersion.sorted(by: { $0.key < $1.key }) {
        let dim = group[0].vector.count
        index.upsert(ids: group.map(\.id), vectors: Matrix(rows: group.count, columns: dim, values: group.flatMap(\.vector)), version: version)
      }
    case .setDocumentVersion(let version):
      documentVersion = version
    case .setBackfill(let plan):
      backfill = plan
    }
  }

  private mutating func account(adding body: DocumentBody) {
    rawInputBytes += body.input.count * 4
    metadataBytes += body.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
  }

  private mutating func account(removing body: DocumentBody?) {
    guard let body else { return }
    rawInputBytes -= body.input.count * 4
    metadataBytes -= body.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
  }
}

// MARK: Encoding

extension Mutation {
  private enum Kind: UInt8 { case upsert = 1, delete, reembed, setDocumentVersion, setBackfill }

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
      w.write(UInt32(items.count))
      for item in items {
        w.write(item.id)
        w.write(item.version)
        w.write(item.vector)
      }
    case .setDocumentVersion(let version):
      w.write(Kind.setDocumentVersion.rawValue)
      w.write(version)
    case .setBackfill(let plan):
      w.write(Kind.setBackfill.rawValue)
      w.write(UInt8(plan == nil ? 0 : 1))
      if let plan {
        w.write(plan.target)
        w.write(UInt32(plan.batchSize))
        w.write(plan.rate.bitPattern)
      }
    }
    return w.bytes
  }

  /// Decodes a log record.
  public static func decode(_ bytes: [UInt8]) throws -> Mutation {
    var r = BinaryReader(bytes)
    guard let kind = Kind(rawValue: try r.read(UInt8.self)) else { throw StorageError("unknown record kind") }
    switch kind {
    case .upsert:
      let count = Int(try r.read(UInt32.self))
      return .upsert(try (0..<count).map { _ in try StoredDocument.decode(from: &r) })
    case .delete:
      let count = Int(try r.read(UInt32.self))
      return .delete(try (0..<count).map { _ in try r.readString() })
    case .reembed:
      let count = Int(try r.read(UInt32.self))
      return .reembed(try (0..<count).map { _ in
        Reembedded(id: try r.readString(), version: try r.readString(), vector: try r.readFloats())
      })
    case .setDocumentVersion:
      return .setDocumentVersion(try r.readString())
    case .setBackfill:
      guard try r.read(UInt8.self) == 1 else { return .setBackfill(nil) }
      return .setBackfill(BackfillPlan(
        target: try r.readString(), batchSize: Int(try r.read(UInt32.self)), rate: Double(bitPattern: try r.read(UInt64.self))))
    }
  }
}

extension StoredDocument {
  func encode(into w: inout BinaryWriter) {
    w.write(id)
    w.write(metadata)
    w.write(inputShape)
    w.write(input)
    w.write(version)
    w.write(vector)
  }

  static func decode(from r: inout BinaryReader) throws -> StoredDocument {
    StoredDocument(
      id: try r.readString(), metadata: try r.readMap(), inputShape: try r.readInts(), input: try r.readFloats(),
      version: try r.readString(), vector: try r.readFloats())
  }
}

extension CollectionState {
  /// The whole state as a snapshot payload.
  public func encoded() -> [UInt8] {
    var w = BinaryWriter()
    w.write(documentVersion ?? "")
    w.write(UInt8(backfill == nil ? 0 : 1))
    if let backfill {
      w.write(backfill.target)
      w.write(UInt32(backfill.batchSize))
      w.write(backfill.rate.bitPattern)
    }
    w.write(UInt32(documents.count))
    for id in documents.keys.sorted() { document(id)!.encode(into: &w) }
    return w.bytes
  }

  /// Rebuilds a state from a snapshot payload.
  public static func decode(_ bytes: [UInt8]) throws -> CollectionState {
    var r = BinaryReader(bytes)
    var state = CollectionState()
    let version = try r.readString()
    if !version.isEmpty { state.apply(.setDocumentVersion(version)) }
    let plan: BackfillPlan?
    if try r.read(UInt8.self) == 1 {
      plan = BackfillPlan(target: try r.readString(), batchSize: Int(try r.read(UInt32.self)), rate: Double(bitPattern: try r.read(UInt64.self)))
    } else {
      plan = nil
    }
    state.apply(.setBackfill(plan))
    let count = Int(try r.read(UInt32.self))
    var docs: [StoredDocument] = []
    docs.reserveCapacity(count)
    for _ in 0..<count { docs.append(try StoredDocument.decode(from: &r)) }
    state.apply(.upsert(docs))
    return state
  }
}
