/// What a view should read beyond the collection's settings and counts.
public struct ViewQuery: Sendable, Equatable {
  /// Documents whose facts to read.
  public var ids: [String]
  /// Count the documents without a raw input whose searched vector is not of this
  /// version ("" counts every document without one).
  public var withoutInputOutside: String?
  /// Find whether some document still needs a vector of this plan's target.
  public var pendingFor: BackfillPlan?
  /// Count documents and bytes per version and copy (Stats, progress); without it a
  /// store may leave the counts empty (`searched` and `dimensions` are always read).
  public var sizes: Bool

  /// A query.
  public init(ids: [String] = [], withoutInputOutside: String? = nil, pendingFor: BackfillPlan? = nil, sizes: Bool = false) {
    self.ids = ids
    self.withoutInputOutside = withoutInputOutside
    self.pendingFor = pendingFor
    self.sizes = sizes
  }
}
