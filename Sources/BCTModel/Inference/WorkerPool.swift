import CKernels
import Foundation
import Synchronization

/// Threads that help the calling thread through the parts of one step of a forward
/// pass, and spin for a short while after each before they sleep.
///
/// Every participant, the caller included, claims parts one at a time until none is
/// left, so a worker that is slow to wake costs nothing: the caller runs the parts it
/// would have run. Waking sleeping threads for every batch and waiting for them (as
/// `DispatchQueue.concurrentPerform` does) cost 7-10% of a 256-row MLP pass
/// (measured); back-to-back passes (a busy encoder, a bulk embed) find the workers
/// still spinning, and an idle pool sleeps on a condition and costs nothing. One
/// caller at a time: a caller that finds the pool busy runs its parts itself.
final class WorkerPool: Sendable {
  /// How long a worker spins (yielding to other threads between short spins) for the
  /// next step before it sleeps. Waking a sleeping worker costs more than a step of
  /// a batch-1 pass, so a busy stream of requests should find it awake.
  static let spin: Duration = .milliseconds(1)

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
    for _ in 0..<workers {
      Thread { [state] in
        state.work()
        live.count.subtract(1, ordering: .releasing)
      }.start()
    }
  }

  deinit { state.stop() }

  /// Runs `body` on every part index in `0..<parts` once, spread over the caller
  /// and the pool's threads; returns when all have run. Parts run concurrently, so
  /// `body` must only write memory that belongs to its own part.
  func run(_ parts: Int, _ body: (Int) -> Void) {
    guard parts > 1, state.claim() else {
      for part in 0..<parts { body(part) }
      return
    }
    // A step holds at most `maximumParts`; more run as that many groups.
    let groups = min(parts, PoolState.maximumParts)
    withoutActuallyEscaping(body) { body in
      state.run(parts: groups) { group in
        for part in (parts * group / groups)..<(parts * (group + 1) / groups) { body(part) }
      }
    }
  }
}

/// How many of a pool's threads are still running.
final class LiveThreads: Sendable {
  let count: Atomic<Int>
  init(_ count: Int) { self.count = Atomic(count) }
}

/// The pool's shared state. `next` holds the current step in one word: its
/// generation (high 32 bits), its part count (16 bits) and its next unclaimed part
/// (low 16 bits), so a claim succeeds only for a part that exists in the step still
/// running. (With the count kept apart, a worker holding an old word could read the
/// next step's larger count before that step was published and claim a part of a
/// step that had ended; found by a crash in the benchmark.) The step's body is
/// written only by the caller that holds `busy`, before the word is published
/// (release); a worker reads it only after it claimed a part, and the caller does not
/// move on until every claimed part has finished.
private final class PoolState: @unchecked Sendable {
  /// Most parts one step can have.
  static let maximumParts = 0xFFFF

  private let next = Atomic<UInt64>(0)
  private let finished = Atomic<Int>(0)
  private let busy = Atomic<Bool>(false)
  private let stopping = Atomic<Bool>(false)
  private let sleepers = NSCondition()
  /// Workers asleep on `sleepers` or about to be: the caller takes the lock to wake
  /// them only when there are some.
  private let sleeping = Atomic<Int>(0)
  private var body: ((Int) -> Void)?

  private static func generation(_ word: UInt64) -> UInt64 { word >> 32 }
  private static func parts(_ word: UInt64) -> UInt64 { (word >> 16) & 0xFFFF }
  private static func part(_ word: UInt64) -> UInt64 { word & 0xFFFF }

  func claim() -> Bool {
    busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
  }

  /// Runs one step of `parts` (at most `maximumParts`) parts; the caller holds `busy`.
  func run(parts: Int, _ body: @escaping (Int) -> Void) {
    precondition(parts > 0 && parts <= Self.maximumParts, "a step has 1...\(Self.maximumParts) parts, not \(parts)")
    self.body = body
    finished.store(0, ordering: .relaxed)
    let generation = (Self.generation(next.load(ordering: .relaxed)) &+ 1) & 0xFFFF_FFFF
    // Sequentially consistent, with the worker's count-then-check: either the worker
    // sees this step or this sees the worker's count and wakes it.
    next.store(generation << 32 | UInt64(parts) << 16, ordering: .sequentiallyConsistent)
    if sleeping.load(ordering: .sequentiallyConsistent) > 0 {
      sleepers.lock()
      sleepers.broadcast()
      sleepers.unlock()
    }
    runParts(generation: generation)
    var spins = 0
    while finished.load(ordering: .acquiring) < parts {
      spins += 1
      if spins < 4096 { ck_spin_pause() } else { sched_yield() }
    }
    self.body = nil
    busy.store(false, ordering: .releasing)
  }

  func stop() {
    stopping.store(true, ordering: .sequentiallyConsistent)
    sleepers.lock()
    sleepers.broadcast()
    sleepers.unlock()
  }

  /// A worker's loop: spin for the next generation, sleep when none comes, claim parts.
  func work() {
    let clock = ContinuousClock()
    // Steps are counted from the pool's creation: a thread that starts after the
    // first step was published still takes part in it.
    var seen: UInt64 = 0
    while true {
      var current = Self.generation(next.load(ordering: .acquiring))
      let deadline = clock.now + WorkerPool.spin
      while current == seen, !stopping.load(ordering: .relaxed) {
        // Yield between short spins: a worker that shares a core with the caller
        // must not take half of the caller's time.
        for _ in 0..<32 { ck_spin_pause() }
        sched_yield()
        current = Self.generation(next.load(ordering: .acquiring))
        if current == seen, clock.now > deadline {
          sleepers.lock()
          sleeping.add(1, ordering: .sequentiallyConsistent)
          while Self.generation(next.load(ordering: .sequentiallyConsistent)) == seen,
            !stopping.load(ordering: .sequentiallyConsistent)
          {
            sleepers.wait()
          }
          sleeping.subtract(1, ordering: .relaxed)
          sleepers.unlock()
          current = Self.generation(next.load(ordering: .acquiring))
        }
      }
      if stopping.load(ordering: .acquiring) { return }
      seen = current
      runParts(generation: current)
    }
  }

  /// Claims and runs parts of `generation` until none is left.
  private func runParts(generation: UInt64) {
    var word = next.load(ordering: .acquiring)
    var done = 0
    while Self.generation(word) == generation, Self.part(word) < Self.parts(word) {
      let (exchanged, original) = next.compareExchange(
        expected: word, desired: word + 1, ordering: .acquiringAndReleasing)
      if !exchanged {
        word = original
        continue
      }
      runPart(Int(Self.part(word)))
      done += 1
      word = next.load(ordering: .acquiring)
    }
    if done > 0 { finished.add(done, ordering: .releasing) }
  }

  /// Not inlined, so that its hold on the body ends before the part is reported
  /// finished (the body must not outlive the step: `withoutActuallyEscaping` checks it).
  @inline(never)
  private func runPart(_ part: Int) {
    body?(part)
  }
}
