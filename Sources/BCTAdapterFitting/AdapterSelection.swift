import BCTAdapters
import BCTEvaluation
import BCTModelRepository
import BCTNumerics

/// Fits every adapter kind (and setting) between two versions' embeddings of the
/// same calibration items, picks one by cross-model retrieval on a selection split
/// carved from the calibration data, and refits the pick on all of it. The split
/// the certificate is measured on is never seen here.
public struct AdapterSelection: Sendable {
  /// One fitted candidate and its score on the selection split, as the manifest records it.
  public typealias Candidate = AdapterRecord.Candidate

  /// Kinds tried.
  public var kinds: [AdapterKind] = AdapterKind.allCases
  /// Ridge strengths of the affine map (times the number of pairs).
  public var ridges: [Float] = [1e-4, 1e-3, 1e-2, 1e-1]
  /// Most epochs of the residual MLP; the best epoch on the selection split is kept.
  public var maximumEpochs = 6
  /// Weights of the residual MLP's class term tried (labelled pairs), each a candidate.
  /// The document transform keeps the first only: a strong class term gathers mapped
  /// documents at their classes' centres, and an old document the old model placed in
  /// the wrong class then sits at another class's centre, the nearest document of
  /// most of that class's queries (a hub). The selection split, training data where
  /// the old model misplaces almost nothing, cannot show it; the validation split did
  /// (top-1 gain below old/old in 3 of 5 transform pairs of the adapter study's b and
  /// c at weight 1, while mAP rose). A mapped query gathered at its class's centre
  /// finds that class's most typical old document instead.
  public var classWeights: [Float] = [0.1, 1]
  /// Share of the calibration pairs held out to choose on.
  public var selectionFraction = 0.1
  /// Seed of the selection split and the MLP's training.
  public var seed: UInt64 = 0
  /// Whether each calibration item is its own class (per-pair relevance, where items
  /// carry no classes): a candidate is then scored by how well each mapped item finds
  /// its own counterpart, instead of same-class items other than itself.
  public var itemsAreTheirOwnClass = false

  public init(kinds: [AdapterKind] = AdapterKind.allCases, seed: UInt64 = 0) {
    self.kinds = kinds
    self.seed = seed
  }

  /// The result: the adapter refitted on every calibration pair, and each candidate's score.
  public struct Outcome: Sendable {
    public var adapter: EmbeddingAdapter
    public var chosen: Candidate
    public var candidates: [Candidate]
  }

  /// Fits the `direction` adapter from `old` and `new` embeddings (unit rows) of the
  /// same calibration items, labelled `labels`. Nil when no kind could be fitted.
  public func fit(direction: AdapterDirection, old: Matrix, new: Matrix, labels: [Int]) -> Outcome? {
    let (source, target) = direction == .query ? (new, old) : (old, new)
    var generator = SeededGenerator(seed: seed ^ 0x7365_6C65_6374)
    let order = Array(0..<labels.count).shuffled(using: &generator)
    let held = max(2, Int(Double(labels.count) * selectionFraction))
    guard labels.count - held >= 2 else { return nil }
    let (selectionRows, fitRows) = (Array(order[..<held]).sorted(), Array(order[held...]).sorted())
    let fitPairs = (source.gatherRows(fitRows), target.gatherRows(fitRows))
    let fitLabels = fitRows.map { labels[$0] }
    let selection = Selection(
      direction: direction, source: source.gatherRows(selectionRows), target: target.gatherRows(selectionRows),
      labels: selectionRows.map { labels[$0] }, excludeSelf: !itemsAreTheirOwnClass)
    var candidates: [(Candidate, refit: () -> EmbeddingAdapter?)] = []
    if kinds.contains(.procrustes), let p = LinearFits.procrustes(source: fitPairs.0, target: fitPairs.1) {
      candidates.append((selection.score(p, setting: "orthogonal"), { LinearFits.procrustes(source: source, target: target) }))
    }
    var bestAffine: (adapter: EmbeddingAdapter, ridge: Float, score: Double)?
    for ridge in ridges {
      guard let a = LinearFits.affine(source: fitPairs.0, target: fitPairs.1, ridge: ridge) else { continue }
      let candidate = selection.score(a, setting: "ridge \(ridge)")
      if kinds.contains(.affine) {
        candidates.append((candidate, { LinearFits.affine(source: source, target: target, ridge: ridge) }))
      }
      if bestAffine.map({ candidate.score > $0.score }) ?? true { bestAffine = (a, ridge, candidate.score) }
    }
    if kinds.contains(.mlp), let start = bestAffine {
      let weights = itemsAreTheirOwnClass || direction == .document ? Array(classWeights.prefix(1)) : classWeights
      for classWeight in weights {
        candidates.append(mlpCandidate(
          start: start, classWeight: classWeight, fitPairs: (fitPairs.0, fitPairs.1, fitLabels),
          all: (source, target, labels), selection: selection))
      }
    }
    guard let best = candidates.max(by: { $0.0.score < $1.0.score }), let adapter = best.refit() else { return nil }
    return Outcome(adapter: adapter, chosen: best.0, candidates: candidates.map(\.0))
  }

  /// The MLP trained from the best affine map, its best epoch on the selection split,
  /// and how to retrain it on every pair for that many epochs.
  private func mlpCandidate(
    start: (adapter: EmbeddingAdapter, ridge: Float, score: Double), classWeight: Float, fitPairs: (Matrix, Matrix, [Int]),
    all: (Matrix, Matrix, [Int]), selection: Selection
  ) -> (Candidate, refit: () -> EmbeddingAdapter?) {
    let trainer = ResidualMLPFit(seed: seed, classWeight: classWeight)
    var best: Candidate?
    var bestEpoch = 0
    _ = trainer.train(
      source: fitPairs.0, target: fitPairs.1, labels: fitPairs.2, from: start.adapter, epochs: max(1, maximumEpochs)
    ) { epoch, adapter in
      let candidate = selection.score(adapter, setting: "ridge \(start.ridge), class weight \(classWeight), epochs \(epoch)")
      if best.map({ candidate.score > $0.score }) ?? true { (best, bestEpoch) = (candidate, epoch) }
    }
    let epochs = bestEpoch
    return (best!, {
      guard let affine = LinearFits.affine(source: all.0, target: all.1, ridge: start.ridge) else { return nil }
      return trainer.train(source: all.0, target: all.1, labels: all.2, from: affine, epochs: epochs)
    })
  }

  /// The held-out pairs a candidate is scored on.
  struct Selection {
    var direction: AdapterDirection
    var source: Matrix
    var target: Matrix
    var labels: [Int]
    var excludeSelf: Bool

    /// Cross-model retrieval with the adapter in place: mapped new queries on old
    /// documents (query adapter), or new queries on mapped old documents (document transform).
    func score(_ adapter: EmbeddingAdapter, setting: String) -> Candidate {
      let (old, new) = direction == .query ? (target, source) : (source, target)
      let (queries, gallery) = direction.crossSearch(adapter, old: old, new: new)
      let scores = RetrievalMetrics.evaluate(
        queries: queries, queryLabels: labels, gallery: gallery, galleryLabels: labels, excludeSelf: excludeSelf)
      return Candidate(kind: adapter.kind.rawValue, setting: setting, top1: scores.top1, meanAveragePrecision: scores.meanAveragePrecision)
    }
  }
}
