/// The ids a filtered search may return (as Faiss's `IDSelector`): how many there
/// are at most, a membership test, and the list of them. Indexes choose by `count`
/// between scoring only the listed ids and searching as usual while skipping the
/// ids the test refuses.
public struct IDFilter: Sendable {
  /// How many ids pass (an upper bound is enough for planning).
  public let count: Int
  /// The passing keys, for indexes that hold a key per vector (given at `add`):
  /// a bit test instead of an id lookup.
  public let keys: DocumentBits?
  private let test: @Sendable (String) -> Bool
  private let list: @Sendable () -> [String]

  /// A filter from a membership test and the list of passing ids.
  public init(
    count: Int, keys: DocumentBits? = nil, contains: @escaping @Sendable (String) -> Bool, ids: @escaping @Sendable () -> [String]
  ) {
    self.count = count
    self.keys = keys
    self.test = contains
    self.list = ids
  }

  /// A filter passing exactly `ids`.
  public init(_ ids: Set<String>) {
    self.init(count: ids.count, contains: { ids.contains($0) }, ids: { Array(ids) })
  }

  /// Whether `id` passes.
  public func contains(_ id: String) -> Bool { test(id) }
  /// The ids that pass.
  public var ids: [String] { list() }
}
