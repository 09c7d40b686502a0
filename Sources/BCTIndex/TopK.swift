/// The k best `ScoredID`s of a stream, kept in a bounded min-heap (the worst of
/// the kept ones at the root), so selecting from n scores costs O(n log k) and no
/// full sort of n.
public struct TopK: Sendable {
  /// How many to keep.
  public let k: Int
  private var heap: [ScoredID] = []

  /// An empty selection of the best `k`.
  public init(k: Int) {
    precondition(k >= 0, "k must be non-negative")
    self.k = k
    heap.reserveCapacity(k)
  }

  /// The score a candidate must beat to enter once k are held (-inf before; +inf
  /// when k is 0, as nothing enters).
  public var threshold: Float { k == 0 ? .infinity : heap.count < k ? -.infinity : heap[0].score }

  /// Offers a candidate.
  public mutating func offer(_ candidate: ScoredID) {
    guard k > 0 else { return }
    if heap.count < k {
      heap.append(candidate)
      siftUp(heap.count - 1)
    } else if ScoredID.ranksBefore(candidate, heap[0]) {
      heap[0] = candidate
      siftDown(0)
    }
  }

  /// Offers `score` for `id`, skipping the id string work when it cannot enter.
  @inline(__always)
  public mutating func offer(score: Float, id: @autoclosure () -> String) {
    if heap.count == k && score < heap[0].score { return }
    offer(ScoredID(id: id(), score: score))
  }

  /// The kept candidates, best first.
  public func sorted() -> [ScoredID] {
    heap.sorted(by: ScoredID.ranksBefore)
  }

  // The root is the candidate that ranks last.
  private func worse(_ i: Int, _ j: Int) -> Bool { ScoredID.ranksBefore(heap[j], heap[i]) }

  private mutating func siftUp(_ index: Int) {
    var child = index
    while child > 0 {
      let parent = (child - 1) / 2
      guard worse(child, parent) else { return }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  private mutating func siftDown(_ index: Int) {
    var parent = index
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var worst = parent
      if left < heap.count && worse(left, worst) { worst = left }
      if right < heap.count && worse(right, worst) { worst = right }
      guard worst != parent else { return }
      heap.swapAt(parent, worst)
      parent = worst
    }
  }
}
