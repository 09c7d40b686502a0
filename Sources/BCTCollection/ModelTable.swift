/// The encoder's versions as last seen.
public struct ModelTable: Codable, Sendable, Equatable {
  /// Versions by name.
  public var versions: [String: VersionInfo] = [:]
  /// The encoder's default version.
  public var defaultVersion: String = ""

  /// The table without versions whose sizes cannot be served (from a broken or
  /// hostile listing, or an edited cache file): every input shape multiplies out
  /// (an external version lists none: it takes no raw inputs).
  public var servable: ModelTable {
    var table = self
    table.versions = versions.filter { _, info in
      info.dimension >= 1 && info.inputShape.allSatisfy { $0 >= 1 }
        && Self.elementCount(info.inputShape).map { $0 <= 1 << 28 } == true
    }
    return table
  }

  /// An empty table, or one built by hand.
  public init(versions: [String: VersionInfo] = [:], defaultVersion: String = "") {
    self.versions = versions
    self.defaultVersion = defaultVersion
  }

  /// The product of `shape`, or nil when it overflows (the seam has no codec to
  /// borrow `TensorCodec.checkedProduct` from; dimensions are checked positive first).
  static func elementCount(_ shape: [Int]) -> Int? {
    var product = 1
    for n in shape {
      let (next, overflow) = product.multipliedReportingOverflow(by: n)
      if overflow { return nil }
      product = next
    }
    return product
  }
}
