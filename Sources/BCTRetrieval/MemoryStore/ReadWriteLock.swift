

#if canImport(Glibc)
import Glibc
#endif

/// A value behind a reader-writer lock: any number of readers at once, a
/// writer alone. Searches read the collection concurrently; changes are applied
/// under the write side.
final class ReadWriteLock<Value>: @unchecked Sendable {
  private var value: Value
  private let lock = UnsafeMutablePointer<pthread_rwlock_t>.allocate(capacity: 1)

  init(_ value: Value) {
    self.value = value
    var attributes = pthread_rwlockattr_t()
    pthread_rwlockattr_init(&attributes)
    // Prefer writers, so a stream of searches cannot starve the writes.
    pthread_rwlockattr_setkind_np(&attributes, Int32(PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP))
    pthread_rwlock_init(lock, &attributes)
    pthread_rwlockattr_destroy(&attributes)
  }

  deinit {
    pthread_rwlock_destroy(lock)
    lock.deallocate()
  }

  /// Runs `body` with shared access.
  func read<Result>(_ body: (Value) throws -> Result) rethrows -> Result {
    pthread_rwlock_rdlock(lock)
    defer { pthread_rwlock_unlock(lock) }
    return try body(value)
  }

  /// Runs `body` with exclusive access.
  func write<Result>(_ body: (inout Value) throws -> Result) rethrows -> Result {
    pthread_rwlock_wrlock(lock)
    defer { pthread_rwlock_unlock(lock) }
    return try body(&value)
  }
}
