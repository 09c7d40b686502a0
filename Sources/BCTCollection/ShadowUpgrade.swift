/// A shadow upgrade: the target copy fills beside the searched one, then one
/// record switches searches to it; the previous copy is kept until finalized.
public struct ShadowUpgrade: Sendable, Equatable, Codable {
  /// The version documents move to.
  public var target: String
  /// Versions searched before the switch.
  public var previousVersions: [String]
  /// The document version before the switch (restored by a rollback).
  public var previousDocumentVersion: String?
  /// Seconds the previous copy is kept after the switch.
  public var graceSeconds: Double
  /// Why the upgrade is a shadow one.
  public var reason: String
  /// When searches switched to the target (seconds since 1970); nil while filling.
  public var switchedAt: Double?

  /// An upgrade that has not switched yet.
  public init(target: String, previousVersions: [String], previousDocumentVersion: String?, graceSeconds: Double, reason: String, switchedAt: Double? = nil) {
    self.target = target
    self.previousVersions = previousVersions
    self.previousDocumentVersion = previousDocumentVersion
    self.graceSeconds = graceSeconds
    self.reason = reason
    self.switchedAt = switchedAt
  }

  /// Whether searches use the target copy.
  public var switched: Bool { switchedAt != nil }
}
