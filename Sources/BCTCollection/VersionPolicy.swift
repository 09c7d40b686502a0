/// The one rule for which versions may meet in a search, which versions may be
/// stored side by side, and how a backfill moves the index: the encoder's
/// certificates (`ModelTable`) applied to the document versions present.
public struct VersionPolicy: Sendable {
  /// The encoder's versions and their relations.
  public let table: ModelTable

  /// The policy of `table`.
  public init(table: ModelTable) { self.table = table }

  /// The relation between versions `a` and `b`; a version the encoder does not
  /// list relates only to itself.
  public func relation(_ a: String, _ b: String) -> VersionRelation {
    if a == b { return .same }
    if let known = table.versions[a]?.relations[b] ?? table.versions[b]?.relations[a] { return known }
    return .incompatible
  }

  /// Whether a query of `query` may search documents of every version in `documents`.
  public func certified(_ query: String, against documents: [String]) -> Bool {
    documents.allSatisfy { [.same, .certified].contains(relation(query, $0)) }
  }

  /// The one document version `query`'s queries search through its certified query
  /// adapter P, with the sha256 of P's file: when the documents are searched at a
  /// single version that `query` is not the same as or certified against natively,
  /// and `query` lists a usable, certified P to it. Nil otherwise.
  public func queryAdapter(_ query: String, documents: [String]) -> (old: String, fileSha256: String)? {
    guard documents.count == 1, let old = documents.first, !certified(query, against: documents),
          let sha = table.versions[query]?.queryAdapters?[old]
    else { return nil }
    return (old, sha)
  }

  /// The version raw queries are embedded with when a request names none: the
  /// newest hosted version that is the same as or certified against every
  /// document version present (the encoder's default when it qualifies).
  public func defaultQueryVersion(documents: [String]) throws(RetrievalError) -> String {
    if !table.defaultVersion.isEmpty && certified(table.defaultVersion, against: documents) { return table.defaultVersion }
    // A transform label is a place documents live, never a version queries are embedded with.
    let candidates = table.versions.values.filter { TransformLabel.parse($0.version) == nil && certified($0.version, against: documents) }
    guard let newest = candidates.max(by: { $0.order < $1.order }) else {
      guard !table.versions.isEmpty else { throw RetrievalError.noVersions }
      throw RetrievalError.noCertifiedQueryVersion(documents: documents)
    }
    return newest.version
  }

  /// Checks that a query of `query` may search documents of `documents`: certified
  /// pairs always, uncertified pairs of one lineage only with `allowUncertified`.
  public func checkQuery(_ query: String, against documents: [String], allowUncertified: Bool) throws(RetrievalError) {
    try check(query, against: documents, allowUncertified: allowUncertified, role: .query)
  }

  /// Checks that documents of `version` may be stored beside documents of `present`.
  public func checkDocument(_ version: String, against present: [String], allowUncertified: Bool) throws(RetrievalError) {
    try check(version, against: present, allowUncertified: allowUncertified, role: .document)
  }

  /// How a backfill to `target` moves documents of `present`: in place when the
  /// target is certified against all of them, shadow otherwise. A target of
  /// another lineage needs shadow `requested` explicitly; in place requested
  /// for a target that is not certified is refused.
  public func upgradeMode(to target: String, from present: [String], requested: UpgradeMode?) throws(RetrievalError) -> (mode: UpgradeMode, reason: String) {
    if requested != .shadow, let other = present.first(where: { relation(target, $0) == .incompatible }) {
      throw RetrievalError.crossLineageNeedsShadow(target: target, document: other, explanation: explain(target, other))
    }
    let uncertified = present.filter { ![.same, .certified].contains(relation(target, $0)) }
    guard let first = uncertified.first else {
      return (requested ?? .inPlace, requested == .shadow ? "shadow requested" : "\(target) is certified against every document version present")
    }
    let reason = explain(target, first)
    if requested == .inPlace {
      throw RetrievalError.inPlaceNotCertified(target: target, reason: reason)
    }
    return (.shadow, reason)
  }

  /// Why `a` and `b` may not be compared, with the certificate's figures.
  public func explain(_ a: String, _ b: String) -> String {
    switch relation(a, b) {
    case .same, .certified:
      return "\(a) and \(b) are certified"
    case .incompatible:
      let lineage = { (v: String) in self.table.versions[v].map { "lineage \($0.lineage.prefix(12))" } ?? "not hosted by the encoder" }
      return "\(a) (\(lineage(a))) and \(b) (\(lineage(b))) do not share a lineage; their embeddings cannot be compared"
    case .uncertified:
      let (newer, older) = (table.versions[a]?.order ?? 0) >= (table.versions[b]?.order ?? 0) ? (a, b) : (b, a)
      guard let quote = table.versions[newer]?.certificates[older] else {
        return "\(newer) holds no certificate for \(older)"
      }
      let verdict = quote.passed ? "its certificate was issued for other \(older) weights" : "NOT certified"
      let evidence = quote.figures + (quote.bounds.map { "; " + $0 } ?? "")
      return "\(newer) vs \(older): \(verdict) (\(evidence))\(quote.reasons.isEmpty ? "" : ": " + quote.reasons.joined(separator: "; "))"
    }
  }

  private func check(_ version: String, against present: [String], allowUncertified: Bool, role: VersionRole) throws(RetrievalError) {
    for other in Set(present).sorted() {
      switch relation(version, other) {
      case .same, .certified:
        continue
      case .uncertified where allowUncertified:
        continue
      case .uncertified:
        throw RetrievalError.notCertified(role: role, version: version, document: other, explanation: explain(version, other))
      case .incompatible:
        throw RetrievalError.incompatible(role: role, version: version, document: other, explanation: explain(version, other))
      }
    }
  }
}
