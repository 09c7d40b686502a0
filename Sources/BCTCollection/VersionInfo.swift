/// What the retrieval service knows about a model version, from the encoder's ListModels.
public struct VersionInfo: Codable, Sendable, Equatable {
  /// Version name.
  public var version: String
  /// Lineage id: the root version's head fingerprint.
  public var lineage: String
  /// Embedding length.
  public var dimension: Int
  /// Shape of one raw input.
  public var inputShape: [Int]
  /// Position in the encoder's listing (oldest first within a lineage): newer is larger.
  public var order: Int
  /// How this version relates to every other hosted version (`ModelInfo.compatibility`).
  public var relations: [String: VersionRelation] = [:]
  /// This version's certificates, by older version.
  public var certificates: [String: CertificateQuote] = [:]
  /// Older versions this version's queries may search through its query adapter P
  /// (certified and usable), each with the sha256 of P's file; nil when none.
  public var queryAdapters: [String: String]?
  /// For a transform label ("TARGET<-SOURCE"): the sha256 of the file of the
  /// target's document transform T from the source; nil otherwise.
  public var transformFileSha256: String?
  /// For a transform label: true when the encoder lists that transform as usable but
  /// NOT certified (only a backfill that names `allow_uncertified` moves by it); nil
  /// for a certified one (and in tables cached before the field existed).
  public var uncertifiedTransform: Bool?

  /// Whether the encoder embeds raw inputs with it (false for an external version,
  /// whose embeddings are computed elsewhere: it lists no input shape).
  public var takesRawInputs: Bool { !inputShape.isEmpty }

  /// A version as listed.
  public init(
    version: String, lineage: String, dimension: Int, inputShape: [Int], order: Int,
    relations: [String: VersionRelation] = [:], certificates: [String: CertificateQuote] = [:]
  ) {
    self.version = version
    self.lineage = lineage
    self.dimension = dimension
    self.inputShape = inputShape
    self.order = order
    self.relations = relations
    self.certificates = certificates
  }
}
