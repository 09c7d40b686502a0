import Foundation

/// Defaults for command-line options read from environment variables, so that a
/// container can configure a service without a command line (`BCT_PORT=...`).
public enum EnvironmentDefault {
  /// The value of `name`, or `fallback` when it is unset or empty.
  public static func string(_ name: String, _ fallback: String) -> String {
    guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { return fallback }
    return value
  }

  /// The value of `name`, or nil when it is unset or empty.
  public static func optional(_ name: String) -> String? {
    let value = string(name, "")
    return value.isEmpty ? nil : value
  }

  /// The integer value of `name`, or `fallback` when it is unset, empty or not an integer.
  public static func int(_ name: String, _ fallback: Int) -> Int {
    Int(string(name, "")) ?? fallback
  }

  /// The floating-point value of `name`, or `fallback`.
  public static func double(_ name: String, _ fallback: Double) -> Double {
    Double(string(name, "")) ?? fallback
  }
}
