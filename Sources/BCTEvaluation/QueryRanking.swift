/// One query's ranking of the gallery, as much of it as the metrics need: the
/// relevant documents in order, how many irrelevant ones sit above each, the
/// nearest documents, and (from those) the average precision and what removing
/// any one document would change. Scratch space reused from query to query.
struct QueryRanking {
  /// Smaller galleries nested in the whole one: the gallery of size `sizes[z]` is
  /// the items whose `positions` entry is below it.
  struct GalleryCurve: Sendable {
    var positions: [Int32]
    var sizes: [Int]
    static let none = GalleryCurve(positions: [], sizes: [])
  }

  private let neighbourCount: Int
  /// Relevant documents, best first (score descending, index ascending).
  private var relevant: [(score: Float, index: Int32)] = []
  /// The relevant documents' scores alone, for the binary search.
  private var scores: [Float] = []
  /// Irrelevant documents and, per position, how many relevant ones score at least as high.
  private var irrelevant: [Int32] = []
  private var buckets: [Int32] = []
  /// Irrelevant documents above relevant slot t but below slot t - 1 (slot R: below all).
  private var above: [Int] = []
  /// 1-based rank of each relevant document.
  private var ranks: [Double] = []
  /// The best irrelevant candidates for the neighbour list (a min-heap on score).
  private var heap: [(score: Float, index: Int32)] = []
  private(set) var nearest: [Int32] = []
  private(set) var hit = false
  private(set) var averagePrecision = 0.0
  /// Nested smaller galleries (item positions below each size), smallest first.
  private let curve: GalleryCurve
  /// Per curve size: irrelevant members bucketed as in `above`.
  private var curveAbove: [[Int]]
  /// Per curve size: whether the query has a relevant member, its hit and average precision.
  private(set) var curveScored: [Bool]
  private(set) var curveHits: [Bool]
  private(set) var curveAveragePrecision: [Double]

  init(count: Int, neighbours: Int, curve: GalleryCurve) {
    neighbourCount = neighbours
    self.curve = curve
    curveAbove = Array(repeating: [], count: curve.sizes.count)
    curveScored = Array(repeating: false, count: curve.sizes.count)
    curveHits = curveScored
    curveAveragePrecision = Array(repeating: 0, count: curve.sizes.count)
    relevant.reserveCapacity(count)
    irrelevant.reserveCapacity(count)
    buckets.reserveCapacity(count)
  }

  var relevantCount: Int { relevant.count }

  /// Ranks the gallery row `row` (scores of every item) for query `query`, leaving
  /// the query itself out of the gallery.
  mutating func rank(row: UnsafePointer<Float>, query: Int, labels: [Int]) {
    let label = labels[query]
    relevant.removeAll(keepingCapacity: true)
    irrelevant.removeAll(keepingCapacity: true)
    labels.withUnsafeBufferPointer { labels in
      for j in 0..<labels.count where j != query {
        if labels[j] == label { relevant.append((row[j], Int32(j))) } else { irrelevant.append(Int32(j)) }
      }
    }
    hit = false
    averagePrecision = 0
    nearest.removeAll(keepingCapacity: true)
    for z in curveScored.indices { curveScored[z] = false }
    guard !relevant.isEmpty else { return }
    relevant.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
    placeIrrelevant(row: row)
    let r = relevant.count
    ranks.removeAll(keepingCapacity: true)
    var irrelevantAbove = 0
    var sum = 0.0
    for t in 0..<r {
      irrelevantAbove += above[t]
      let rank = Double(t + 1 + irrelevantAbove)
      ranks.append(rank)
      sum += Double(t + 1) / rank
    }
    averagePrecision = sum / Double(r)
    hit = above[0] == 0
    mergeNearest()
    for z in curve.sizes.indices { rankWithinCurve(z) }
  }

  /// The hit and average precision against the curve's gallery `z` only: relevant
  /// members in order, each ranked below the members above it.
  private mutating func rankWithinCurve(_ z: Int) {
    let size = curve.sizes[z]
    var members = 0
    var irrelevantAbove = 0
    var sum = 0.0
    var first = true
    for t in 0..<relevant.count {
      irrelevantAbove += curveAbove[z][t]
      guard Int(curve.positions[Int(relevant[t].index)]) < size else { continue }
      members += 1
      if first {
        curveHits[z] = irrelevantAbove == 0
        first = false
      }
      sum += Double(members) / Double(members + irrelevantAbove)
    }
    curveScored[z] = members > 0
    curveAveragePrecision[z] = members > 0 ? sum / Double(members) : 0
  }

  /// Buckets every irrelevant document under the relevant ones (ties go to the
  /// relevant document) and keeps the best `neighbourCount` of them.
  private mutating func placeIrrelevant(row: UnsafePointer<Float>) {
    above.removeAll(keepingCapacity: true)
    above.append(contentsOf: repeatElement(0, count: relevant.count + 1))
    buckets.removeAll(keepingCapacity: true)
    heap.removeAll(keepingCapacity: true)
    for z in curveAbove.indices {
      curveAbove[z].removeAll(keepingCapacity: true)
      curveAbove[z].append(contentsOf: repeatElement(0, count: relevant.count + 1))
    }
    scores.removeAll(keepingCapacity: true)
    scores.append(contentsOf: relevant.lazy.map(\.score))
    let sizes = curve.sizes
    scores.withUnsafeBufferPointer { rel in
      for j in irrelevant {
        let x = row[Int(j)]
        let low = countAtLeast(x, in: rel)
        above[low] += 1
        buckets.append(Int32(low))
        if !sizes.isEmpty {
          let position = Int(curve.positions[Int(j)])
          for z in sizes.indices where position < sizes[z] { curveAbove[z][low] += 1 }
        }
        offer((x, j))
      }
    }
  }

  /// Keeps `candidate` if it is among the best `neighbourCount` irrelevant documents.
  private mutating func offer(_ candidate: (score: Float, index: Int32)) {
    func worse(_ a: (score: Float, index: Int32), _ b: (score: Float, index: Int32)) -> Bool {
      a.score < b.score || (a.score == b.score && a.index > b.index)
    }
    guard neighbourCount > 0 else { return }
    if heap.count < neighbourCount {
      heap.append(candidate)
      var child = heap.count - 1
      while child > 0 {
        let parent = (child - 1) / 2
        guard worse(heap[child], heap[parent]) else { break }
        heap.swapAt(child, parent)
        child = parent
      }
      return
    }
    guard worse(heap[0], candidate) else { return }
    heap[0] = candidate
    var parent = 0
    while true {
      let left = 2 * parent + 1
      guard left < heap.count else { break }
      let right = left + 1
      let child = right < heap.count && worse(heap[right], heap[left]) ? right : left
      guard worse(heap[child], heap[parent]) else { break }
      heap.swapAt(child, parent)
      parent = child
    }
  }

  /// The nearest documents: relevant and irrelevant merged by score, a tie going
  /// to the relevant document (as the hit does).
  private mutating func mergeNearest() {
    heap.sort { $0.score > $1.score || ($0.score == $1.score && $0.index < $1.index) }
    var a = 0
    var b = 0
    while nearest.count < neighbourCount && (a < relevant.count || b < heap.count) {
      if b >= heap.count || (a < relevant.count && relevant[a].score >= heap[b].score) {
        nearest.append(relevant[a].index)
        a += 1
      } else {
        nearest.append(heap[b].index)
        b += 1
      }
    }
  }

  /// Adds, for every document, this query's average precision minus its average
  /// precision without that document (exact, not a derivative).
  func addRemovalEffects(to effects: UnsafeMutableBufferPointer<Double>) {
    let r = relevant.count
    guard r > 0 else { return }
    // Removing an irrelevant document lifts every relevant one below it by a rank:
    // the change is sum over t >= bucket of (t+1) (1/(rank-1) - 1/rank).
    var lift = Array(repeating: 0.0, count: r + 1)
    for t in stride(from: r - 1, through: 0, by: -1) {
      let rank = ranks[t]
      lift[t] = lift[t + 1] + (rank > 1 ? Double(t + 1) / (rank * (rank - 1)) : 0)
    }
    for (position, j) in irrelevant.enumerated() {
      effects[Int(j)] -= lift[Int(buckets[position])] / Double(r)
    }
    // Removing relevant slot t: slots above keep their terms, slots below move up
    // one place and one rank, and there is one relevant document fewer.
    guard r > 1 else { return }
    var below = Array(repeating: 0.0, count: r + 1)
    for t in stride(from: r - 1, through: 0, by: -1) {
      below[t] = below[t + 1] + (t > 0 ? Double(t) / (ranks[t] - 1) : 0)
    }
    var prefix = 0.0
    for t in 0..<r {
      let without = (prefix + below[t + 1]) / Double(r - 1)
      effects[Int(relevant[t].index)] += averagePrecision - without
      prefix += Double(t + 1) / ranks[t]
    }
  }
}
