

/// A lock that a task holds across suspension points (writers of the Milvus store
/// await Milvus while they hold it); waiters are served in arrival order. Every
/// `lock()` must be followed by one `unlock()` on every path.
actor AsyncMutex {
  private var locked = false
  private var waiters: [CheckedContinuation<Void, Never>] = []

  /// Waits until the lock is free and takes it.
  func lock() async {
    guard locked else {
      locked = true
      return
    }
    await withCheckedContinuation { waiters.append($0) }
  }

  /// Releases the lock to the next waiter, if any.
  func unlock() {
    if waiters.isEmpty {
      locked = false
    } else {
      waiters.removeFirst().resume()
    }
  }
}
