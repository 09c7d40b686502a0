import Foundation

#if canImport(Glibc)
import Glibc
#endif

extension Process {
  /// Sends SIGTERM and waits for the exit; SIGKILL after `grace`.
  func stop(grace: Duration) async {
    guard isRunning else { return }
    terminate()
    let deadline = ContinuousClock.now + grace
    while isRunning && ContinuousClock.now < deadline { try? await Task.sleep(for: .milliseconds(20)) }
    await kill9()
  }

  /// Sends SIGKILL (a crash) and waits for the exit.
  func kill9() async {
    guard isRunning else { return }
    kill(processIdentifier, SIGKILL)
    while isRunning { try? await Task.sleep(for: .milliseconds(20)) }
  }
}
