import BCTAdapters
import BCTEvaluation
import BCTModelRepository
import BCTNumerics

/// Fits the adapters between an old version A and a new version B and certifies
/// the search mode each serves, from embeddings alone: calibration pairs (the
/// training data) to fit and choose on, and a held-out split to certify on.
public struct PairAdaptation: Sendable {
  /// Two versions' unit-norm embeddings of the same items, with their labels.
  public struct Embeddings: Sendable {
    public var old: Matrix
    public var new: Matrix
    public var labels: [Int]

    public init(old: Matrix, new: Matrix, labels: [Int]) {
      self.old = old
      self.new = new
      self.labels = labels
    }
  }

  /// One fitted adapter and the certificate of its mode.
  public struct Fitted: Sendable {
    public var direction: AdapterDirection
    public var adapter: EmbeddingAdapter
    public var outcome: AdapterSelection.Outcome
    public var certificate: CompatibilityCertificate
  }

  public var selection: AdapterSelection
  public var settings: CompatibilityCertifier.Settings

  public init(selection: AdapterSelection, settings: CompatibilityCertifier.Settings) {
    self.selection = selection
    self.settings = settings
  }

  /// Fits each of `directions` on `calibration` and certifies its mode on
  /// `certification` (data never used to fit or choose), for the old version named
  /// in `old`. Directions no kind could fit are left out.
  public func fit(
    directions: [AdapterDirection], old: (version: String, headFingerprint: String), calibration: Embeddings,
    certification: Embeddings, dataset: String, split: String
  ) -> [Fitted] {
    directions.compactMap { direction in
      guard let outcome = selection.fit(
        direction: direction, old: calibration.old, new: calibration.new, labels: calibration.labels)
      else { return nil }
      let adapter = outcome.adapter
      let cross = direction.crossSearch(adapter, old: certification.old, new: certification.new)
      let certificate = CompatibilityCertifier.certificate(
        old: old, embeddings: (certification.old, certification.new), labels: certification.labels, cross: cross,
        dataset: dataset, split: split, settings: settings)
      return Fitted(direction: direction, adapter: adapter, outcome: outcome, certificate: certificate)
    }
  }

  /// Fits each of `directions` on `calibration` (items that are their own class) and
  /// certifies its mode under per-pair relevance on `validation` (`QrelsCertifier`).
  public func fit(
    directions: [AdapterDirection], old: (version: String, headFingerprint: String), calibration: Embeddings,
    qrels validation: QrelsPairs.Validation, dataset: String, split: String
  ) -> [Fitted] {
    var selection = selection
    selection.itemsAreTheirOwnClass = true
    return directions.compactMap { direction in
      guard let outcome = selection.fit(
        direction: direction, old: calibration.old, new: calibration.new, labels: calibration.labels)
      else { return nil }
      let (queries, documents) = (validation.queries, validation.documents)
      let certificate = QrelsCertifier.certificate(
        old: old, oldOld: (queries.old, documents.old),
        cross: direction.crossSearch(outcome.adapter, old: documents.old, new: queries.new),
        newNew: (queries.new, documents.new), judgments: validation.judgments, dataset: dataset, split: split,
        settings: settings)
      return Fitted(direction: direction, adapter: outcome.adapter, outcome: outcome, certificate: certificate)
    }
  }
}
