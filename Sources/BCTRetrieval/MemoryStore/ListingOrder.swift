/// Document ids in listing order (bytes of UTF-8, as Milvus orders VarChar keys),
/// kept as a sorted run plus a small unsorted set of recent additions and a set
/// of removed ids, merged when either grows past a threshold (or half the run):
/// writes cost O(batch log batch) and an occasional merge, not a shift of the whole
/// run per write.
struct ListingOrder: Sendable {
  private var run: [String] = []
  private var added: Set<String> = []
  private var removed: Set<String> = []
  private let mergeThreshold: Int

  /// An empty order that merges its recent changes past `mergeThreshold` of them.
  init(mergeThreshold: Int = 4096) {
    self.mergeThreshold = mergeThreshold
  }

  /// Whether `a` lists before `b`.
  static func precedes(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
  }

  /// Adds ids new to the collection.
  mutating func insert<S: Sequence>(_ ids: S) where S.Element == String {
    for id in ids {
      if inRun(id) { removed.remove(id) } else { added.insert(id) }
    }
    mergeIfLarge()
  }

  /// Drops ids that left the collection.
  mutating func remove<S: Sequence>(_ ids: S) where S.Element == String {
    for id in ids where added.remove(id) == nil {
      if inRun(id) { removed.insert(id) }
    }
    mergeIfLarge()
  }

  private func inRun(_ id: String) -> Bool {
    let i = firstIndex(after: id, inclusive: true)
    return i < run.count && run[i] == id
  }

  /// The index of the first run id after `id` (or equal to it, when inclusive).
  private func firstIndex(after id: String, inclusive: Bool) -> Int {
    var low = 0, high = run.count
    while low < high {
      let mid = (low + high) / 2
      let before = inclusive ? Self.precedes(run[mid], id) : !Self.precedes(id, run[mid])
      if before { low = mid + 1 } else { high = mid }
    }
    return low
  }

  private mutating func mergeIfLarge() {
    guard added.count > mergeThreshold || removed.count > max(mergeThreshold, run.count / 2) else { return }
    let fresh = added.sorted(by: Self.precedes)
    var merged: [String] = []
    merged.reserveCapacity(run.count - removed.count + fresh.count)
    var i = 0, j = 0
    while i < run.count || j < fresh.count {
      if j == fresh.count || (i < run.count && Self.precedes(run[i], fresh[j])) {
        if !removed.contains(run[i]) { merged.append(run[i]) }
        i += 1
      } else {
        merged.append(fresh[j])
        j += 1
      }
    }
    run = merged
    added = []
    removed = []
  }

  /// Up to `limit` ids after `cursor` (from the start without one) that `passes`
  /// accepts, in order.
  func page(after cursor: String?, limit: Int, passes: (String) -> Bool) -> [String] {
    var i = cursor.map { firstIndex(after: $0, inclusive: false) } ?? 0
    let fresh = added.filter { id in cursor.map { Self.precedes($0, id) } ?? true }.sorted(by: Self.precedes)
    var j = 0
    var out: [String] = []
    while out.count < limit && (i < run.count || j < fresh.count) {
      let id: String
      if j == fresh.count || (i < run.count && Self.precedes(run[i], fresh[j])) {
        id = run[i]
        i += 1
        if removed.contains(id) { continue }
      } else {
        id = fresh[j]
        j += 1
      }
      if passes(id) { out.append(id) }
    }
    return out
  }
}
