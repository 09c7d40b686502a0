/// Why a data file could not be read: each case says what was wrong and what was expected.
public struct DataError: Error, CustomStringConvertible, Sendable, Equatable {
  /// The file involved, if any.
  public let path: String
  /// What was wrong and what was expected.
  public let reason: String

  public init(path: String, _ reason: String) {
    self.path = path
    self.reason = reason
  }

  public var description: String { path.isEmpty ? reason : "\(path): \(reason)" }
}
