/// Names of collections: the default one, which requests without a name use, and
/// the rules a named one follows (the same on disk and in Milvus).
public enum CollectionName {
  /// The collection of requests that name none; it always exists.
  public static let defaultName = "default"

  /// The collection `requested` refers to: the default one when it is empty.
  public static func resolved(_ requested: String) -> String {
    requested.isEmpty ? defaultName : requested
  }

  /// Checks a name for a new collection: 1 to `maxLength` lowercase ASCII letters,
  /// digits and underscores, starting with a letter, and not the default's name.
  public static func validate(_ name: String, maxLength: Int) throws(RetrievalError) {
    guard !name.isEmpty else { throw .invalidArgument(field: "name", message: "name is empty") }
    guard name.utf8.count <= maxLength else {
      throw .invalidArgument(field: "name", message: "name has \(name.utf8.count) bytes; the maximum is \(maxLength) (--max-collection-name)")
    }
    guard isWellFormed(name) else {
      throw .invalidArgument(
        field: "name", message: "name \"\(name.prefix(80))\" must be lowercase ASCII letters, digits and underscores, starting with a letter")
    }
    guard name != defaultName else { throw .collectionExists(name: name) }
  }

  /// Whether `name` is lowercase letters, digits and underscores, starting with a letter.
  public static func isWellFormed(_ name: String) -> Bool {
    guard let first = name.utf8.first, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(first) else { return false }
    return name.utf8.allSatisfy { byte in
      (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
        || byte == UInt8(ascii: "_")
    }
  }
}
