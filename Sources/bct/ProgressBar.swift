import BCTProto
import BCTTraining
import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Progress on standard error: a redrawn bar on a terminal, plain lines otherwise
/// (one per epoch), so logs and `--json` output on stdout stay clean.
struct ProgressBar {
  let isTerminal = isatty(STDERR_FILENO) != 0
  private var lastDraw = 0.0

  /// Shows `fraction` of the work with a label and trailing detail.
  mutating func update(label: String, done: Int, total: Int, detail: String, finished: Bool) {
    if isTerminal {
      let now = Self.seconds()
      guard finished || now - lastDraw > 0.1 else { return }
      lastDraw = now
      let width = 30
      let filled = total > 0 ? min(width, width * done / total) : width
      let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
      Self.write("\r\(label) [\(bar)] \(done)/\(total) \(detail)\u{1B}[K" + (finished ? "\n" : ""))
    } else if finished {
      Self.write("\(label) \(done)/\(total) \(detail)\n")
    }
  }

  /// Renders training progress: one bar per epoch with loss, throughput and ETA.
  mutating func show(_ p: TrainingProgress) {
    let eta = Double(p.total - p.seen) / max(p.examplesPerSecond, 1)
    update(
      label: "epoch \(p.epoch)/\(p.epochs)", done: p.seen, total: p.total,
      detail: String(format: "loss %.4f  %.0f ex/s  ETA %.0fs", p.loss, p.examplesPerSecond, eta),
      finished: p.epochFinished)
  }

  /// A backfill's rate: the server's recent one while it runs, the average since
  /// `started` (a `seconds()` reading) once it has ended.
  static func rate(_ progress: Bct_V1_BackfillProgress, since started: Double) -> String {
    guard progress.state != .running else { return String(format: "%.0f docs/s", progress.documentsPerSecond) }
    let elapsed = seconds() - started
    return elapsed > 0 ? String(format: "average %.0f docs/s", Double(progress.done) / elapsed) : ""
  }

  static func write(_ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
      let written = bytes.withUnsafeBytes { Glibc.write(STDERR_FILENO, $0.baseAddress! + offset, $0.count - offset) }
      if written <= 0 { return }
      offset += written
    }
  }

  static func seconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
  }
}
