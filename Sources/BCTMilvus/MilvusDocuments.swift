import Foundation

/// The layout of one bct document collection in Milvus (one per embedding space).
///
/// Fields: `id` (VarChar primary key, bct's document id), `embedding` (FloatVector,
/// metric IP, HNSW index), `metadata` (JSON), `has_input` (Bool: whether `input` holds
/// a raw input), `mark` (VarChar, a short tag the store filters on) and `input`
/// (FloatVector, the raw model input, FLAT index). The two scalars are fields rather
/// than JSON keys because Milvus filters scalar fields far faster than JSON paths. The raw input is a vector field, not JSON or a string: it stays
/// exact float32 on the wire and on disk (no text encoding, 4 bytes per value), and
/// Milvus only loads a collection once every vector field has an index, which FLAT
/// gives without a build. Milvus caps vector fields at 32,768 dimensions.
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

  /// A layout; throws for sizes Milvus cannot hold.
  public init(name: String, dimension: Int, inputSize: Int, m: Int = 16, efConstruction: Int = 200) throws {
    guard MilvusLocation.isValidName(name), name.count <= 255 else {
      throw MilvusLocationError(text: name, reason: "not a Milvus collection name")
    }
    for (what, size) in [("embedding dimension", dimension), ("input size", inputSize)]
    where !(1...Self.maxDimension).contains(size) {
      throw MilvusLocationError(text: "\(size)", reason: "a Milvus \(what) must be 1-\(Self.maxDimension)")
    }
    self.name = name
    self.dimension = dimension
    self.inputSize = inputSize
    self.m = m
    self.efConstruction = efConstruction
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
