import Dispatch
import Foundation

/// Cores this process may use, read once: Foundation's `activeProcessorCount`
/// reads the cgroup's CPU quota from files on every call (tens of microseconds),
/// too slow for a per-request decision.
public let processorCount = ProcessInfo.processInfo.activeProcessorCount

/// Splits `0..<count` into contiguous chunks and runs `body` on them on all cores.
///
/// For element-wise work between BLAS calls (activations, im2col, pooling), which
/// would otherwise leave every core but one idle. Small counts run inline.
/// `body` must only write memory that belongs to its own range.
public func parallelChunks(_ count: Int, minimumChunk: Int = 4096, _ body: (Range<Int>) -> Void) {
  let workers = min(processorCount, max(1, count / max(1, minimumChunk)))
  guard workers > 1 else {
    if count > 0 { body(0..<count) }
    return
  }
  withoutActuallyEscaping(body) { body in
    let shared = SharedBody(run: body)
    DispatchQueue.concurrentPerform(iterations: workers) { worker in
      let start = count * worker / workers
      let end = count * (worker + 1) / workers
      if start < end { shared.run(start..<end) }
    }
  }
}

/// The chunk body, shared with the workers; sound because each writes only its own range.
private struct SharedBody: @unchecked Sendable {
  let run: (Range<Int>) -> Void
}

