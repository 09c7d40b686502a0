/// The version label of vectors a document transform moved into a target's space:
/// "TARGET<-SOURCE". They are searched like the target's, counted apart from true
/// target embeddings, and replaced by an ordinary backfill where raw inputs exist.
public enum TransformLabel {
  /// Between the target and the source.
  public static let separator = "<-"

  /// The label of `source` vectors transformed into `target`'s space.
  public static func make(target: String, source: String) -> String { target + separator + source }

  /// The target and source of a label; nil for an ordinary version.
  public static func parse(_ label: String) -> (target: String, source: String)? {
    guard let range = label.range(of: separator) else { return nil }
    let (target, source) = (String(label[..<range.lowerBound]), String(label[range.upperBound...]))
    return target.isEmpty || source.isEmpty ? nil : (target, source)
  }
}
