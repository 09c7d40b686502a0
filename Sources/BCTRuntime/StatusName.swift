import GRPCCore

/// gRPC status codes as the names logs, metrics and the CLI print.
public enum StatusName {
  /// The status code name of `error` in snake case (e.g. "invalid_argument"), "unknown" for an error that is not an `RPCError`.
  public static func of(_ error: any Error) -> String {
    guard let rpc = error as? RPCError else { return "unknown" }
    var name = ""
    for character in String(describing: rpc.code) {
      if character.isUppercase { name += "_" + character.lowercased() } else { name.append(character) }
    }
    return name
  }
}
