import Synchronization

/// A signal that waiters poll with a time limit: `notify` wakes every waiter at
/// once. A waiter passes the `generation` it read before looking at the state it
/// waits on, so a notify between that look and the wait is not lost.
final class WakeSignal: Sendable {
  private struct State {
    var generation: UInt64 = 0
    var nextWaiter = 0
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
  }

  private let state = Mutex(State())

  /// The number of notifications so far.
  var generation: UInt64 { state.withLock { $0.generation } }

  /// Wakes every waiter.
  func notify() {
    let waiters = state.withLock { state in
      state.generation &+= 1
      defer { state.waiters = [:] }
      return Array(state.waiters.values)
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns when a notification after `seen` happens (at once if one already
  /// did), when `timeout` has passed, or when the task is cancelled.
  func wait(after seen: UInt64, upTo timeout: Duration) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { try? await Task.sleep(for: timeout) }
      group.addTask { await self.waitForNotification(after: seen) }
      await group.next()
      group.cancelAll()
    }
  }

  private func waitForNotification(after seen: UInt64) async {
    let id = state.withLock { state in
      state.nextWaiter += 1
      return state.nextWaiter
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let now = state.withLock { state -> Bool in
          guard state.generation == seen && !Task.isCancelled else { return true }
          state.waiters[id] = continuation
          return false
        }
        if now { continuation.resume() }
      }
    } onCancel: {
      state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
  }
}
