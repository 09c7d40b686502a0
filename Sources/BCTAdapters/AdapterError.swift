/// Why an adapter cannot be used.
public enum AdapterError: Error, Sendable, Equatable, CustomStringConvertible {
  /// A or B no longer carries the weights the adapter was fitted for.
  case staleWeights(oldVersion: String, direction: String)
  /// The file is missing, altered or malformed.
  case unreadable(file: String, detail: String)

  public var description: String {
    switch self {
    case .staleWeights(let old, let direction):
      return "the \(direction) adapter to \(old) was fitted for other weights of \(old) or of this version; fit it again with bct adapt"
    case .unreadable(let file, let detail):
      return "adapter file \(file): \(detail)"
    }
  }
}
