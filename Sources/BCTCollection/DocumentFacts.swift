/// What is known of one stored document without reading its vectors or input.
public struct DocumentFacts: Sendable, Equatable {
  /// The version of its searched vector.
  public var version: String
  /// The version of its other vector during a shadow upgrade.
  public var counterpart: String?
  /// Which write made its body: work read from one body commits only if it is unchanged.
  public var generation: UInt64
  /// Whether it keeps a raw input.
  public var hasInput: Bool

  /// Facts of a document.
  public init(version: String, counterpart: String?, generation: UInt64, hasInput: Bool) {
    self.version = version
    self.counterpart = counterpart
    self.generation = generation
    self.hasInput = hasInput
  }
}
