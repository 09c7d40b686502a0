import BCTModel

/// How a new version is kept comparable with the old one it is trained against.
public enum CompatibilityObjective: String, Sendable, CaseIterable, Codable {
  /// No compatibility term: an independent model (its embeddings do not match the old ones).
  case none
  /// BCT's influence loss: the old head, frozen, classifies the new embeddings.
  case influence
  /// L2 regression of new embeddings onto the frozen old backbone's embeddings.
  case l2
  /// The influence loss plus a new-to-old supervised contrastive term: new embeddings
  /// are pulled to the frozen old embeddings of same-class examples and pushed from
  /// other classes. With the default weights it also carries the new-to-new term and
  /// a RACT instance term ("hybrid" in the scenario matrix, chosen on validation).
  case contrastive
  /// The influence loss plus the Hot-Refresh / RACT term (Zhang et al., ICLR 2022):
  /// each new embedding's positive is the old embedding of the same example; the
  /// old and new embeddings of other classes are its negatives; low temperature.
  case ract
  /// Training-free alignment: an independent model whose last layer is then
  /// rotated by the orthogonal Procrustes map from its space to the old one, fitted
  /// on the training data (new/new retrieval is unchanged by a rotation).
  case procrustes

  /// Whether the objective classifies new embeddings with the old head, frozen.
  public var usesInfluence: Bool { self == .influence || self == .contrastive || self == .ract }
  /// Whether the objective needs the old backbone's embeddings of each batch.
  public var usesOldEmbeddings: Bool { self == .l2 || self == .contrastive || self == .ract }
}

/// Everything that decides how a version is trained.
public struct TrainingConfiguration: Sendable {
  public var architecture: Architecture = .defaultMLP
  public var embeddingDim = 128
  public var epochs = 5
  public var batchSize = 256
  public var optimizer: OptimizerKind = .adam
  public var learningRate: Float = 1e-3
  public var momentum: Float = 0.9
  public var weightDecay: Float = 0
  public var schedule: LearningRateSchedule = .constant
  public var seed: UInt64 = 0
  /// Kind of the version's own classifier head.
  public var head: ClassifierHead.Kind = .linear
  /// Compatibility term against the old version (ignored without one).
  public var compatibility: CompatibilityObjective = .contrastive
  /// Weight of the influence loss (old head, frozen).
  public var influenceWeight: Float = 1
  /// With a value, the influence loss uses the old head as a cosine classifier at
  /// this logit scale (normalised rows and embeddings, no bias); nil = as trained.
  public var influenceCosineScale: Float?
  /// With `contrastive`: weight of a supervised contrastive term among the new embeddings themselves
  /// (same-class new embeddings as positives, no gradient through the candidates),
  /// which keeps the new space tighter than the cross-model one (0 = off).
  public var selfContrastiveWeight: Float = 1
  /// With `contrastive`: weight of an added Hot-Refresh/RACT instance term (each new
  /// embedding's positive = the old embedding of the same example), which keeps new
  /// queries spread like the old documents instead of collapsing to class centres.
  public var instanceWeight: Float = 1
  /// Weight of the Hot-Refresh / RACT term.
  public var ractWeight: Float = 1
  /// Temperature of the Hot-Refresh / RACT term.
  public var ractTemperature: Float = 0.05
  /// Weight of the L2 feature regression.
  public var l2Weight: Float = 1
  /// Weight of the new-to-old contrastive term.
  public var contrastiveWeight: Float = 1
  /// Temperature of the new-to-old contrastive term.
  public var contrastiveTemperature: Float = 0.1
  /// Weight of the auxiliary self-supervised InfoNCE term (0 = off).
  public var infoNCEWeight: Float = 0
  /// Temperature of the InfoNCE term.
  public var temperature: Float = 0.1
  /// Keys kept from earlier batches as extra InfoNCE negatives (MoCo-style queue).
  public var queueSize = 0
  /// Augmentation making the two InfoNCE views.
  public var augmentation = Augmentation()

  public init() {}

  /// The knobs recorded in a manifest's `training.options`.
  public func options(withOld: Bool) -> [String: String] {
    var options: [String: String] = [
      "momentum": "\(momentum)", "weight-decay": "\(weightDecay)", "schedule": schedule.rawValue,
      "head": head.rawValue,
    ]
    if withOld {
      switch compatibility {
      case .none, .procrustes: break
      case .influence: options["influence-weight"] = "\(influenceWeight)"
      case .l2: options["l2-weight"] = "\(l2Weight)"
      case .contrastive:
        options["influence-weight"] = "\(influenceWeight)"
        options["contrastive-weight"] = "\(contrastiveWeight)"
        options["contrastive-temperature"] = "\(contrastiveTemperature)"
      case .ract:
        options["influence-weight"] = "\(influenceWeight)"
        options["ract-weight"] = "\(ractWeight)"
        options["ract-temperature"] = "\(ractTemperature)"
      }
      if instanceWeight > 0, compatibility == .contrastive {
        options["instance-weight"] = "\(instanceWeight)"
        options["ract-temperature"] = "\(ractTemperature)"
      }
      if selfContrastiveWeight > 0, compatibility == .contrastive {
        options["self-contrastive-weight"] = "\(selfContrastiveWeight)"
      }
      if compatibility.usesInfluence, let influenceCosineScale {
        options["influence-head"] = "cosine"
        options["influence-cosine-scale"] = "\(influenceCosineScale)"
      }
    }
    if infoNCEWeight > 0 {
      options["infonce-weight"] = "\(infoNCEWeight)"
      options["infonce-temperature"] = "\(temperature)"
      options["queue-size"] = "\(queueSize)"
    }
    return options
  }
}

/// Where training stands, reported after every batch.
public struct TrainingProgress: Sendable {
  public var epoch: Int
  public var epochs: Int
  /// Examples processed in this epoch.
  public var seen: Int
  /// Examples per epoch.
  public var total: Int
  /// Running mean loss over this epoch.
  public var loss: Float
  /// Throughput over this epoch.
  public var examplesPerSecond: Double
  /// Whether this report closes the epoch.
  public var epochFinished: Bool
}
