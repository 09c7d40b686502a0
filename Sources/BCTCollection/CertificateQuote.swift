/// A certificate's figures as quoted in refusals: "top-1 84.0 -> 83.1 -> 86.2, ...".
public struct CertificateQuote: Codable, Sendable, Equatable {
  /// Whether it certifies.
  public var passed: Bool
  /// The criterion's figures, the margin and where they were measured.
  public var figures: String
  /// Each failed step with its numbers.
  public var reasons: [String]
  /// The lower confidence bounds and how they were computed; nil for a certificate
  /// issued without bounds.
  public var bounds: String?

  /// A quote.
  public init(passed: Bool, figures: String, reasons: [String], bounds: String? = nil) {
    self.passed = passed
    self.figures = figures
    self.reasons = reasons
    self.bounds = bounds
  }
}
