import BCTNumerics

/// Vectors tagged with the model version that made them: one index segment per
/// version (of one `IndexKind`), searched together for the versions a query may
/// be compared with, results merged into one ranking. A composite over
/// `VectorIndex`es, the way Faiss composites are themselves indexes.
public struct VersionedIndex: Sendable {
  /// The kind of index each new segment gets.
  public let kind: IndexKind
  private var segments: [String: any VectorIndex] = [:]
  private var versionOf: [String: String] = [:]

  /// An empty index whose segments are of `kind`.
  public init(kind: IndexKind = .flat) {
    self.kind = kind
  }

  /// Number of vectors of all versions.
  public var count: Int { versionOf.count }
  /// Vectors per version (versions with none are absent).
  public var countsByVersion: [String: Int] { segments.filter { $0.value.count > 0 }.mapValues(\.count) }
  /// The versions present.
  public var versions: [String] { countsByVersion.keys.sorted() }
  /// The embedding dimension of a version present.
  public func dimension(of version: String) -> Int? { segments[version].map(\.dimension) }
  /// Bytes of vector storage.
  public var vectorBytes: Int { segments.values.reduce(0) { $0 + $1.vectorBytes } }
  /// Kind, parameters and memory of each version's segment.
  public func description(of version: String) -> IndexDescription? { segments[version]?.description }

  /// The version of the vector stored for `id`.
  public func version(of id: String) -> String? { versionOf[id] }
  /// The vector stored for `id`.
  public func vector(for id: String) -> [Float]? { versionOf[id].flatMap { segments[$0]?.vector(for: id) } }
  /// Ids whose vector is of `version`.
  public func ids(of version: String) -> [String] { segments[version]?.allIDs ?? [] }

  /// The segment of `version`, if it holds any vector.
  public func segment(of version: String) -> (any VectorIndex)? {
    segments[version].flatMap { $0.count > 0 ? $0 : nil }
  }

  /// Takes `segment` as the segment of `version`, which has none yet, with every
  /// id it holds (none held here) as that version's: a saved graph standing in for
  /// one built from a snapshot.
  public mutating func adopt(_ segment: any VectorIndex, as version: String) {
    precondition(segments[version] == nil, "version \(version) already has a segment")
    let ids = segment.allIDs
    precondition(ids.allSatisfy { versionOf[$0] == nil }, "an adopted id is already held")
    for id in ids { versionOf[id] = version }
    segments[version] = segment
  }

  /// Sets the key of every vector of `version` to `key(id)` (nil: none).
  public mutating func setKeys(of version: String, _ key: (String) -> Int?) {
    segments[version]?.setKeys(key)
  }

  /// A copy that shares no search structure with this one (see `VectorIndex.detached`).
  public func detached() -> VersionedIndex {
    var copy = self
    copy.segments = segments.mapValues { $0.detached() }
    return copy
  }

  /// Stores `vectors` (one row per id) as made by `version`, replacing what each id
  /// had, under `keys` (one per id, for key filters) if given.
  public mutating func upsert(ids: [String], vectors: Matrix, version: String, keys: [Int]? = nil) {
    var moving: [String: [String]] = [:]
    for id in ids {
      if let old = versionOf.updateValue(version, forKey: id), old != version { moving[old, default: []].append(id) }
    }
    for (old, moved) in moving { removeAndReclaim(moved, from: old) }
    if segments[version] == nil { segments[version] = kind.make(dimension: vectors.columns) }
    precondition(segments[version]!.dimension == vectors.columns, "version \(version) vectors have another dimension")
    segments[version]!.add(ids: ids, vectors: vectors, keys: keys)
  }

  /// Removes `ids`; returns those that were present.
  @discardableResult
  public mutating func remove(ids: [String]) -> [String] {
    var byVersion: [String: [String]] = [:]
    for id in ids {
      if let version = versionOf.removeValue(forKey: id) { byVersion[version, default: []].append(id) }
    }
    for (version, removed) in byVersion { removeAndReclaim(removed, from: version) }
    return byVersion.values.flatMap { $0 }
  }

  /// Removes `ids` from the segment of `version`, then drops the segment when
  /// it is empty (its memory goes, and the version may come back with another
  /// dimension) or compacts it when removals left it mostly empty.
  private mutating func removeAndReclaim(_ ids: [String], from version: String) {
    guard var segment = segments.removeValue(forKey: version) else { return }
    segment.remove(ids: ids)
    guard segment.count > 0 else { return }
    segments[version] = segment.compacted() ?? segment
  }

  /// A hit with the version of the document vector.
  public struct Hit: Sendable, Equatable {
    /// Id and score.
    public var scored: ScoredID
    /// The document vector's model version.
    public var version: String

    /// A hit.
    public init(scored: ScoredID, version: String) {
      self.scored = scored
      self.version = version
    }
  }

  /// The `k` best documents of `versions` (of those `filter` passes) for each query row, best first.
  public func search(
    _ queries: Matrix, k: Int, versions: [String], options: SearchOptions = SearchOptions(), filter: IDFilter? = nil
  ) -> [[Hit]] {
    let present = versions.filter { (segments[$0]?.count ?? 0) > 0 }
    let total = present.reduce(0) { $0 + segments[$1]!.count }
    var selections = (0..<queries.rows).map { _ in TopK(k: min(k, total, filter?.count ?? total)) }
    for version in present { segments[version]!.search(queries, into: &selections, options: options, filter: filter) }
    return selections.map { selection in
      selection.sorted().map { Hit(scored: $0, version: versionOf[$0.id] ?? "") }
    }
  }
}
