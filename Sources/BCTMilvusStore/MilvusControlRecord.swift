import BCTCollection
import BCTMilvus
import Foundation

/// bct's own state of a catalogue in Milvus: what no vector database keeps. One JSON
/// row in the catalogue's state collection; every replica reads it, the writer
/// rewrites it after each change.
struct MilvusControlRecord: Codable, Equatable, Sendable {
  /// One model version's collection.
  struct Segment: Codable, Equatable, Sendable {
    /// The Milvus collection.
    var collection: String
    /// Embedding dimension.
    var dimension: Int
    /// Values per raw input.
    var inputSize: Int
    /// How the collection keeps raw inputs (absent in records written before the
    /// text encoding existed: those collections keep them as a vector field).
    var inputEncoding: MilvusDocumentCollection.InputEncoding?
    /// Whether every row carries its numeric metadata values (`numbers`), which
    /// range filters read: true for collections created since filters exist.
    var numbers: Bool?
  }

  /// Number of the last change of this record.
  var sequence: UInt64 = 0
  /// Changes each time the versions a write must carry change.
  var layout = 0
  /// The version raw upserts are embedded with.
  var documentVersion: String?
  /// The backfill in progress.
  var backfill: BackfillPlan?
  /// The shadow upgrade in progress.
  var shadow: ShadowUpgrade?
  /// Marks the searched rows that already have their target vector in this shadow upgrade.
  var shadowToken = ""
  /// The collections searches read, by version.
  var searched: [String: Segment] = [:]
  /// Versions of `searched` whose collections hold documents (kept here so that a
  /// search need not count rows).
  var present: [String] = []
  /// The other copy's collections during a shadow upgrade (target before the switch, previous after it).
  var other: [String: Segment] = [:]
}

/// What bct keeps in a document row's JSON field: the caller's metadata and bct's
/// per-document fields. (Whether a raw input is kept, and the shadow upgrade's mark,
/// are scalar fields of the row: Milvus filters those fast.)
struct MilvusRowBody: Codable, Equatable, Sendable {
  /// The caller's metadata.
  var metadata: [String: String]
  /// Raw input shape (empty without a raw input).
  var shape: [Int]
  /// Which write made this body.
  var generation: UInt64

  /// The JSON written: these fields, plus `numbers`, the metadata values that spell
  /// numbers (`MetadataFilter.number`) as JSON numbers, for range filters.
  func encoded() -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let numbers = metadata.compactMapValues(MetadataFilter.number)
    return (try? encoder.encode(Written(metadata: metadata, shape: shape, generation: generation, numbers: numbers))) ?? Data("{}".utf8)
  }

  private struct Written: Encodable {
    var metadata: [String: String]
    var shape: [Int]
    var generation: UInt64
    var numbers: [String: Double]
  }

  static func decode(_ data: Data, collection: String) throws -> MilvusRowBody {
    do {
      return try JSONDecoder().decode(MilvusRowBody.self, from: data)
    } catch {
      throw MilvusError.malformedReply(call: "Query", detail: "a row of \(collection) has no bct body (\(error))")
    }
  }
}

extension MilvusLocation {
  /// The collection holding bct's state record.
  public var stateCollection: String { "\(prefix)_state" }

  /// The collection for `version`'s documents: the version with characters Milvus
  /// does not take replaced, and a hash of the exact name where anything was replaced.
  public func collection(for version: String) -> String {
    let clean = String(version.unicodeScalars.map { scalar -> Character in
      scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar)) ? Character(scalar) : "_"
    }.prefix(120))
    guard clean != version else { return "\(prefix)_v_\(clean)" }
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in version.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x100_0000_01b3
    }
    return "\(prefix)_v_\(clean)_\(String(hash, radix: 16))"
  }
}
