import BCTIndex
import Foundation

/// A collection's index kind as stored beside it (`collection.json` on disk, a
/// record in Milvus): JSON `{"kind": "flat"}` or `{"kind": "hnsw", "m": 16, ...}`.
public struct IndexSettingsRecord: Codable, Sendable, Equatable {
  /// "flat", "flat-sq8", "flat-f16" or "hnsw".
  public var kind: String
  /// HNSW links per node.
  public var m: Int?
  /// HNSW candidate list while building.
  public var efConstruction: Int?
  /// HNSW candidate list while searching.
  public var efSearch: Int?

  /// The record of `index`.
  public init(_ index: IndexKind) {
    switch index {
    case .flat, .quantized:
      kind = index.name
    case .hnsw(let p):
      kind = "hnsw"
      m = p.m
      efConstruction = p.efConstruction
      efSearch = p.efSearch
    }
  }

  /// The index kind this record describes; throws a `StoredSettingsError` for a
  /// kind or parameters no index takes.
  public func indexKind() throws -> IndexKind {
    switch kind {
    case "flat": return .flat
    case "flat-sq8": return .quantized(.sq8)
    case "flat-f16": return .quantized(.f16)
    case "hnsw":
      guard let m, let efConstruction, let efSearch else { throw StoredSettingsError(detail: "hnsw settings lack m, efConstruction or efSearch") }
      let parameters = HNSWParameters(m: m, efConstruction: efConstruction, efSearch: efSearch)
      if let problem = parameters.problem { throw StoredSettingsError(detail: problem) }
      return .hnsw(parameters)
    default: throw StoredSettingsError(detail: "unknown index kind \"\(kind.prefix(40))\"")
    }
  }

  /// The record as sorted-key JSON.
  public func encoded() -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    return (try? encoder.encode(self)) ?? Data(#"{"kind":"flat"}"#.utf8)
  }

  /// The record in `data`.
  public static func decode(_ data: Data) throws -> IndexSettingsRecord {
    do {
      return try JSONDecoder().decode(IndexSettingsRecord.self, from: data)
    } catch {
      throw StoredSettingsError(detail: "not index settings JSON (\(error))")
    }
  }
}

/// Stored collection settings that do not describe an index.
public struct StoredSettingsError: Error, CustomStringConvertible {
  /// What is wrong.
  public let detail: String
  public var description: String { detail }
}
