import Foundation
import Logging

/// How log lines are written.
public enum LogFormat: String, Sendable {
  /// `2026-11-22T10:00:00.000Z info bct-encoder: message key=value ...`
  case text
  /// One JSON object per line: `{"ts":...,"level":...,"logger":...,"msg":...,...metadata}`.
  case json
}

/// A swift-log handler that writes one structured line per event to standard error.
public struct LineLogHandler: LogHandler {
  public var metadata: Logger.Metadata = [:]
  public var logLevel: Logger.Level = .info
  public var metadataProvider: Logger.MetadataProvider?
  private let label: String
  private let format: LogFormat

  /// A handler for the logger `label`; `metadataProvider` adds context (e.g. the
  /// current trace) to every line.
  public init(label: String, format: LogFormat, metadataProvider: Logger.MetadataProvider? = nil) {
    self.label = label
    self.format = format
    self.metadataProvider = metadataProvider
  }

  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  public func log(event: LogEvent) {
    var merged = metadata
    if let provided = metadataProvider?.get() { merged.merge(provided) { $1 } }
    if let extra = event.metadata { merged.merge(extra) { $1 } }
    let timestamp = Date().formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true))
    let line: String
    switch format {
    case .text:
      let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\(Self.quoted("\($0.value)"))" }
      line = ([timestamp, event.level.rawValue, "\(label):", Self.escaped("\(event.message)")] + fields).joined(separator: " ")
    case .json:
      var object: [String: String] = ["ts": timestamp, "level": event.level.rawValue, "logger": label, "msg": "\(event.message)"]
      for (key, value) in merged { object[key] = "\(value)" }
      let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
      line = String(decoding: data, as: UTF8.self)
    }
    FileHandle.standardError.write(Data((line + "\n").utf8))
  }

  /// A metadata value as one token: quoted (with `\"` and `\\` escaped) when it
  /// holds a space, a quote, `=`, a backslash or a character `escaped` rewrites.
  public static func quoted(_ value: String) -> String {
    let plain = value.unicodeScalars.allSatisfy { !needsEscape($0) && $0 != " " && $0 != "\"" && $0 != "=" && $0 != "\\" }
    guard !plain else { return value }
    let inner = escaped(value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))
    return "\"\(inner)\""
  }

  /// `text` with control characters and line or paragraph separators written as
  /// escapes (`\n`, `\r`, `\t`, `\u{..}`), so that no client string a line
  /// carries can start a line of its own or rewrite the terminal.
  public static func escaped(_ text: String) -> String {
    guard text.unicodeScalars.contains(where: needsEscape) else { return text }
    var out = ""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where needsEscape(scalar): out += "\\u{\(String(scalar.value, radix: 16))}"
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out
  }

  private static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
    scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value) || scalar.value == 0x2028 || scalar.value == 0x2029
  }
}
