import Logging

extension Logger {
  /// This logger with one more metadata entry.
  func with(_ key: String, _ value: String) -> Logger {
    var copy = self
    copy[metadataKey: key] = "\(value)"
    return copy
  }
}
