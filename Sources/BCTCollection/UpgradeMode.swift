/// How the index moves to a target version.
public enum UpgradeMode: String, Sendable, Equatable {
  /// Re-embed document by document; searches mix certified versions meanwhile.
  case inPlace = "in place"
  /// Build a complete target copy beside the current one, then switch atomically.
  case shadow
}
