import Synchronization
import Testing

@testable import BCTModel

@Suite("Worker pool")
struct WorkerPoolTests {
  @Test("every part runs exactly once, for counts below, at and above the thread count")
  func coversEveryIndex() {
    let pool = WorkerPool(workers: 3)
    for count in [0, 1, 2, 3, 4, 5, 17, 1000] {
      for _ in 0..<20 {
        let hits = Mutex([Int](repeating: 0, count: count))
        pool.run(count) { part in hits.withLock { $0[part] += 1 } }
        #expect(hits.withLock { $0.allSatisfy { $0 == 1 } }, "count \(count)")
      }
    }
  }

  @Test("back-to-back steps of changing sizes: no part runs in a step other than its own")
  func stepsOfChangingSizes() {
    // A small step followed by a larger one is where a worker holding the old step's
    // state could claim a part that only the next step has.
    let pool = WorkerPool(workers: 2)
    var wrong = 0
    for step in 0..<100_000 {
      let parts = [2, 9, 1, 40, 3][step % 5]
      let hits = Mutex([Int](repeating: 0, count: parts))
      let strays = Atomic<Int>(0)
      pool.run(parts) { part in
        if part < parts { hits.withLock { $0[part] += 1 } } else { strays.add(1, ordering: .relaxed) }
      }
      if strays.load(ordering: .relaxed) != 0 || hits.withLock({ $0.contains { $0 != 1 } }) { wrong += 1 }
    }
    #expect(wrong == 0)
  }

  @Test("more parts than one step holds run as groups, each part once")
  func manyParts() {
    let pool = WorkerPool(workers: 1)
    let count = 200_003
    let hits = Mutex([UInt8](repeating: 0, count: count))
    pool.run(count) { part in hits.withLock { $0[part] &+= 1 } }
    #expect(hits.withLock { $0.allSatisfy { $0 == 1 } })
  }

  @Test("callers running at once each get all their work done (a busy pool's caller runs its parts itself)")
  func concurrentCallers() async {
    let pool = WorkerPool(workers: 1)
    let totals = await withTaskGroup(of: Int.self) { group in
      for caller in 0..<8 {
        group.addTask {
          var total = 0
          for _ in 0..<200 {
            let sum = Atomic<Int>(0)
            pool.run(64) { part in sum.add(part + caller, ordering: .relaxed) }
            total += sum.load(ordering: .relaxed)
          }
          return total
        }
      }
      return await group.reduce(into: [Int]()) { $0.append($1) }
    }
    #expect(totals.sorted() == (0..<8).map { 200 * (2016 + $0 * 64) })
  }

  @Test("a released pool's threads end, asleep or spinning")
  func threadsEnd() async throws {
    for sleepFirst in [false, true] {
      var pool: WorkerPool? = WorkerPool(workers: 2)
      pool?.run(10) { _ in }
      pool?.run(10) { _ in }
      let live = pool!.liveThreads
      if sleepFirst { try await Task.sleep(for: .milliseconds(50)) }
      pool = nil
      let clock = ContinuousClock(), deadline = clock.now + .seconds(5)
      while live.count.load(ordering: .acquiring) > 0, clock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
      #expect(live.count.load(ordering: .acquiring) == 0, "asleep first: \(sleepFirst)")
    }
  }
}
