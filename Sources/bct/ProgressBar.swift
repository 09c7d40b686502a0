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
