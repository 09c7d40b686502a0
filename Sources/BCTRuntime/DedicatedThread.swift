import Foundation

/// Runs `body` on a thread of its own and returns its result, so that seconds of
/// synchronous computation do not hold a thread of Swift's concurrency pool (on 2
/// cores the pool has 2 threads; two such bodies on it would stall every other task
/// of the process, RPCs and timers included, until they end).
public func onDedicatedThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
  try await withCheckedThrowingContinuation { continuation in
    Thread { continuation.resume(with: Result { try body() }) }.start()
  }
}
