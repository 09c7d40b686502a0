import BCTNumerics
import CKernels
import Foundation
import Synchronization

/// Threads that run the parts of one forward pass beside the calling thread, and
/// spin for a short while after each pass before they sleep.
///
/// Waking a sleeping thread for every batch (as `DispatchQueue.concurrentPerform`
/// does) costs tens of microseconds, which the caller then waits for: 7-10% of a
/// 256-row MLP forward pass (measured). Back-to-back passes (a busy encoder, a bulk
/// embed) find the workers still spinning; an idle pool sleeps on a condition and
/// costs nothing. One pass at a time: a caller that finds the pool running another
/// caller's pass runs through Dispatch instead.
final class WorkerPool: Sendable {
  /// How long a worker spins for the next pass before it sleeps.
  static let spin: Duration = .microseconds(200)

  private let state: PoolState
  /// Threads besides the caller.
  let workers: Int
  /// Worker threads still running: they end after the pool is released.
  let liveThreads: LiveThreads

  /// A pool of `workers` threads (at least one).
  init(workers: Int) {
    precondition(workers >= 1, "a worker pool needs at least one thread")
    self.workers = workers
    let live = LiveThreads(workers)
    liveThreads = live
    state = PoolState()
    for index in 1...workers {
      let thread = Thread { [state] in
        state.work(index: index)
        live.count.subtract(1, ordering: .releasing)
      }
      thread.start()
    }
  }

  deinit { state.stop() }

  /// Splits `0..<count` into contiguous ranges, one per thread (the caller's first),
  /// and returns when every range has run. `body` must only write memory that
  /// belongs to its own range.
  func run(_ count: Int, _ body: (Range<Int>) -> Void) {
    guard count > 1 else {
      if count == 1 { body(0..<1) }
      return
    }
    guard state.claim() else { return parallelChunks(count, minimumChunk: 1, body) }
    withoutActuallyEscaping(body) { body in
      state.run(count: count, participants: workers + 1, body)
    }
  }
}

/// How many of a pool's threads are still running.
final class LiveThreads: Sendable {
  let count: Atomic<Int>
  init(_ count: Int) { self.count = Atomic(count) }
}

/// The pool's shared state: the current pass, its generation, and how many workers
/// are still running it. The pass fields are written only by the caller that holds
/// `busy`, before the generation is published (release) and read by workers after
/// they observe it (acquire).
private final class PoolState: @unchecked Sendable {
  private struct Pass {
    var count = 0
    var participants = 1
    var body: ((Range<Int>) -> Void)?
  }

  private let generation = Atomic<Int>(0)
  private let remaining = Atomic<Int>(0)
  private let busy = Atomic<Bool>(false)
  private let stopping = Atomic<Bool>(false)
  private let sleepers = NSCondition()
  private var pass = Pass()

  func claim() -> Bool {
    busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
  }

  func run(count: Int, participants: Int, _ body: @escaping (Range<Int>) -> Void) {
    pass = Pass(count: count, participants: participants, body: body)
    remaining.store(participants - 1, ordering: .relaxed)
    generation.add(1, ordering: .releasing)
    sleepers.lock()
    sleepers.broadcast()
    sleepers.unlock()
    runPart(0)
    var spins = 0
    while remaining.load(ordering: .acquiring) > 0 {
      spins += 1
      if spins < 4096 { ck_spin_pause() } else { sched_yield() }
    }
    pass.body = nil
    busy.store(false, ordering: .releasing)
  }

  func stop() {
    stopping.store(true, ordering: .releasing)
    sleepers.lock()
    sleepers.broadcast()
    sleepers.unlock()
  }

  /// A worker's loop: spin for the next generation, sleep when none comes, run its part.
  func work(index: Int) {
    let clock = ContinuousClock()
    // Passes are counted from the pool's creation: a thread that starts after the
    // first pass was published must still run it.
    var seen = 0
    while true {
      var current = generation.load(ordering: .acquiring)
      let deadline = clock.now + WorkerPool.spin
      while current == seen, !stopping.load(ordering: .relaxed) {
        for _ in 0..<64 { ck_spin_pause() }
        current = generation.load(ordering: .acquiring)
        if current == seen, clock.now > deadline {
          sleepers.lock()
          while generation.load(ordering: .acquiring) == seen, !stopping.load(ordering: .acquiring) {
            sleepers.wait()
          }
          sleepers.unlock()
          current = generation.load(ordering: .acquiring)
        }
      }
      if stopping.load(ordering: .acquiring) { return }
      seen = current
      runPart(index)
      remaining.subtract(1, ordering: .releasing)
    }
  }

  /// Runs this thread's range of the current pass. Not inlined, so that its hold on
  /// the body ends before the caller reports the part done (the body must not outlive
  /// the pass: `withoutActuallyEscaping` checks it).
  @inline(never)
  private func runPart(_ index: Int) {
    let pass = self.pass
    let start = pass.count * index / pass.participants
    let end = pass.count * (index + 1) / pass.participants
    if start < end { pass.body?(start..<end) }
  }
}
