import Foundation

/// The layout of one bct document collection in Milvus (one per embedding space).
///
/// Fields: `id` (VarChar primary key, bct's document id), `embedding` (FloatVector,
/// metric IP, HNSW index), `metadata` (JSON), `has_input` (Bool: whether `input` holds
/// a raw input), `mark` (VarChar, a short tag the store filters on) and `input` (the
/// raw model input). The two scalars are fields rather than JSON keys because Milvus
/// filters scalar fields far faster than JSON paths.
///
/// The raw input is a VarChar holding the base64 of its little-endian float32 bytes
/// (`InputEncoding.text`): exact, and the collection keeps a single vector field, which
/// is all Milvus before 2.4 can hold. Milvus caps VarChar at 65,535 bytes, so an input
/// holds at most 12,287 values. Collections that bct created before (Milvus >= 2.4)
/// keep the input as a second FloatVector field (`InputEncoding.vector`) and are read
/// and written in that layout.
public struct MilvusDocumentCollection: Sendable, Hashable {
  /// The collection's name in Milvus.
  public var name: String
  /// Embedding dimension.
  public var dimension: Int
  /// Values per raw input.
  public var inputSize: Int
  /// HNSW graph degree.
  public var m: Int
  /// HNSW build beam width.
  public var efConstruction: Int
  /// How the raw input is kept.
  public var inputEncoding: InputEncoding

  /// How a collection keeps raw inputs.
  public enum InputEncoding: String, Sendable, Hashable, Codable {
    /// A VarChar of base64 little-endian float32 (one vector field: every Milvus since 2.3).
    case text
    /// A second FloatVector field with a FLAT index (the layout before; Milvus >= 2.4).
    case vector

    /// The most values one raw input can have.
    public var maxInputSize: Int {
      switch self {
      case .text: MilvusDocumentCollection.maxTextBytes / 4 * 3 / 4
      case .vector: MilvusDocumentCollection.maxDimension
      }
    }
  }

  /// Field names, fixed by this layout.
  public static let idField = "id"
  public static let embeddingField = "embedding"
  public static let metadataField = "metadata"
  public static let hasInputField = "has_input"
  public static let markField = "mark"
  public static let inputField = "input"
  /// Longest document id a collection accepts (bytes of UTF-8).
  public static let maxIDLength = 512
  /// Longest mark (bytes of UTF-8).
  public static let maxMarkLength = 128
  /// Largest vector dimension Milvus accepts.
  public static let maxDimension = 32_768
  /// Longest VarChar Milvus accepts (bytes).
  public static let maxTextBytes = 65_535

  /// A layout; throws for sizes Milvus cannot hold.
  public init(
    name: String, dimension: Int, inputSize: Int, m: Int = 16, efConstruction: Int = 200, inputEncoding: InputEncoding = .text
  ) throws {
    guard MilvusLocation.isValidName(name), name.count <= 255 else {
      throw MilvusLocationError(text: name, reason: "not a Milvus collection name")
    }
    for (what, size, limit) in [("embedding dimension", dimension, Self.maxDimension), ("raw input size", inputSize, inputEncoding.maxInputSize)]
    where !(1...limit).contains(size) {
      let kept = what == "raw input size" && inputEncoding == .text ? " (kept as base64 text in a VarChar of at most \(Self.maxTextBytes) bytes); send embeddings for larger inputs, or use the memory store" : ""
      throw MilvusLocationError(text: "\(size)", reason: "a Milvus \(what) must be 1-\(limit)\(kept)")
    }
    self.name = name
    self.dimension = dimension
    self.inputSize = inputSize
    self.m = m
    self.efConstruction = efConstruction
    self.inputEncoding = inputEncoding
  }
}

/// One document as stored in Milvus.
public struct MilvusDocument: Sendable, Hashable {
  /// bct's document id (the primary key).
  public var id: String
  /// The embedding, `dimension` values.
  public var embedding: [Float]
  /// The metadata as a JSON object's UTF-8 bytes.
  public var metadata: Data
  /// Whether `input` holds a raw input.
  public var hasInput: Bool
  /// A tag to filter on (at most `maxMarkLength` bytes).
  public var mark: String
  /// The raw model input, `inputSize` values (empty when fetched without vectors).
  public var input: [Float]

  /// A document from its parts.
  public init(id: String, embedding: [Float], metadata: Data = Data("{}".utf8), hasInput: Bool = true, mark: String = "", input: [Float]) {
    self.id = id
    self.embedding = embedding
    self.metadata = metadata
    self.hasInput = hasInput
    self.mark = mark
    self.input = input
  }
}
