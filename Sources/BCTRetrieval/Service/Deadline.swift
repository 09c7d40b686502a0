import GRPCCore

/// The caller's deadline, from the `grpc-timeout` request header.
enum CallDeadline {
  /// The instant the caller's deadline passes, if it set one.
  static func from(_ metadata: Metadata, receivedAt: ContinuousClock.Instant = .now) -> ContinuousClock.Instant? {
    // The protocol allows at most 8 digits (so no unit below overflows).
    guard let header = metadata[stringValues: "grpc-timeout"].first(where: { _ in true }), let unit = header.last,
      (1...8).contains(header.count - 1), let amount = Int64(header.dropLast()), amount >= 0
    else { return nil }
    let duration: Duration
    switch unit {
    case "H": duration = .seconds(amount * 3600)
    case "M": duration = .seconds(amount * 60)
    case "S": duration = .seconds(amount)
    case "m": duration = .milliseconds(amount)
    case "u": duration = .microseconds(amount)
    case "n": duration = .nanoseconds(amount)
    default: return nil
    }
    return receivedAt + duration
  }
}
