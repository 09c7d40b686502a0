/// How the embeddings of two versions relate: the one rule that says whether a
/// query of one may be compared with documents of the other.
public enum PairCompatibility: String, Sendable, Codable, CaseIterable {
  /// The same version.
  case same
  /// Same lineage, and the newer version holds a certificate for the older one
  /// (issued against the older version's current head).
  case certified
  /// Same lineage, but no certificate, a failed one, or one issued for other weights.
  case uncertified
  /// Different lineages: their embedding spaces have nothing in common.
  case incompatible

  /// The relation between the versions described by `a` and `b`.
  public static func of(_ a: Manifest, _ b: Manifest) -> PairCompatibility {
    if a.version == b.version { return a.lineage == b.lineage ? .same : .incompatible }
    guard a.lineage == b.lineage else { return .incompatible }
    return a.certifies(b) || b.certifies(a) ? .certified : .uncertified
  }
}

extension Manifest {
  /// This version's certificates (none for versions trained before certificates existed).
  public var certificates: [CompatibilityCertificate] { compatibility ?? [] }

  /// The certificate this version holds for `older`, if any.
  public func certificate(for older: String) -> CompatibilityCertificate? {
    certificates.last { $0.oldVersion == older }
  }

  /// Whether this version holds a passing certificate for `older` as it is now
  /// (same lineage, same head weights as when the certificate was issued).
  public func certifies(_ older: Manifest) -> Bool {
    guard older.lineage == lineage, let certificate = certificate(for: older.version) else { return false }
    return certificate.verdict == .certified && certificate.oldHeadFingerprint == older.head.fingerprint
  }
}
