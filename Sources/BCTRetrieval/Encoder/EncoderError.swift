import GRPCCore

/// Why a call to the encoder failed, as `EncoderGateway` reports it; mapped to a
/// status at the service's edge with the other domain errors.
public enum EncoderError: Error, Sendable, Equatable, CustomStringConvertible {
  /// No connection, or UNAVAILABLE after the retries `attempts` allowed (UNAVAILABLE).
  case unavailable(address: String, detail: String, attempts: Int)
  /// The caller's deadline had passed before a call could start (DEADLINE_EXCEEDED).
  case deadlinePassed(address: String)
  /// The call ran out of time (DEADLINE_EXCEEDED).
  case timedOut(address: String)
  /// The encoder answered with an error status of its own, relayed with its code.
  case refused(code: RPCError.Code, message: String)
  /// The encoder embedded with another version than asked (INTERNAL).
  case wrongVersion(embedded: String, asked: String)

  public var description: String {
    switch self {
    case .unavailable(let address, let detail, let attempts):
      "the encoder at \(address) is unavailable (\(detail); retried up to \(attempts) attempts); retry later — searches by embedding keep working"
    case .deadlinePassed(let address):
      "the deadline passed while waiting for the encoder at \(address)"
    case .timedOut(let address):
      "the encoder at \(address) did not answer within the deadline"
    case .refused(_, let message):
      "encoder: \(message)"
    case .wrongVersion(let embedded, let asked):
      "the encoder embedded with \(embedded), not \(asked)"
    }
  }

  /// Whether the encoder is down or slow, so that waiting and trying again may help.
  public var isTransient: Bool {
    switch self {
    case .unavailable, .deadlinePassed, .timedOut: true
    case .refused(let code, _): code == .unavailable || code == .deadlineExceeded
    case .wrongVersion: false
    }
  }

  /// Whether the encoder refused the input itself (a shape or value it cannot take).
  public var isBadInput: Bool {
    if case .refused(.invalidArgument, _) = self { return true }
    return false
  }
}
