/// An embedding with the version that made it.
public struct VersionedVector: Sendable, Equatable {
  /// The model version.
  public var version: String
  /// The embedding.
  public var vector: [Float]

  /// An embedding of `version`.
  public init(version: String, vector: [Float]) {
    self.version = version
    self.vector = vector
  }
}
