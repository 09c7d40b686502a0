

/// A lock that a task holds across suspension points (writers of the Milvus store
/// await Milvus while they hold it); waiters are served in arrival order. Every
/// `lock()` must be followed by one `unlock()` on every path.
public actor AsyncMutex {
  /// An unlocked mutex.
  public init() {}

  private var locked = false
  private var waiters: [CheckedContinuation<Void, Never>] = []

  /// Waits until the lock is free and takes it.
  public func lock() async {
    guard locked else {
      locked = true
      return
    }
    await withCheckedContinuation { waiters.append($0) }
  }

  /// Releases the lock to the next waiter, if any.
  public func unlock() {
    if waiters.isEmpty {
      locked = false
    } else {
      waiters.removeFirst().resume()
    }
  }
}

extension AsyncMutex {
  /// Runs `body` holding the lock, and releases it however `body` ends.
  public nonisolated func withLock<Result: Sendable>(_ body: @Sendable () async throws -> Result) async throws -> Result {
    await lock()
    do {
      let result = try await body()
      await unlock()
      return result
    } catch {
      await unlock()
      throw error
    }
  }
}
