import Synchronization

/// An event that happens once: `wait` returns as soon as `fire` has been called.
final class OneShotSignal: Sendable {
  private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  /// Fires the signal (again: nothing).
  func fire() {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      defer { state = (true, []) }
      return state.fired ? [] : state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns once the signal has fired.
  func wait() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let fired = state.withLock { state in
        if !state.fired { state.waiters.append(continuation) }
        return state.fired
      }
      if fired { continuation.resume() }
    }
  }
}
