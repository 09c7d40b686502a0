import BCTModel
import BCTTraining

/// What one generation of a scenario is: architecture and the data it trains on.
public struct GenerationSpec: Sendable, Codable, Equatable {
  /// "mlp" or "cnn".
  public var architecture: String
  /// Architecture hyper-parameters, e.g. ["hidden": "256,128"].
  public var parameters: [String: String]
  /// Fraction of the (validation-free) training data, from a fixed subset seed.
  public var fraction: Double
  /// Classes trained on; nil = all.
  public var classes: [Int]?

  public init(architecture: String, parameters: [String: String] = [:], fraction: Double = 1, classes: [Int]? = nil) {
    self.architecture = architecture
    self.parameters = parameters
    self.fraction = fraction
    self.classes = classes
  }

  /// A short description, e.g. "mlp 256,128 on 50%".
  public var label: String {
    let shape = parameters.keys.sorted().map { parameters[$0]! }.joined(separator: " ")
    var data = fraction < 1 ? "\(Int((fraction * 100).rounded()))%" : "100%"
    if let classes { data += " classes \(classes.first!)-\(classes.last!)" }
    return "\(architecture)\(shape.isEmpty ? "" : " " + shape) on \(data)"
  }
}

/// An upgrade a search team ships: generations trained one after the other, each
/// against its parent.
public struct Scenario: Sendable, Codable, Equatable {
  /// Short id, e.g. "b".
  public var id: String
  /// What it models, e.g. "data refresh".
  public var name: String
  /// Oldest first; at least two.
  public var generations: [GenerationSpec]

  public init(id: String, name: String, generations: [GenerationSpec]) {
    precondition(generations.count >= 2, "a scenario needs an old and a new generation")
    self.id = id
    self.name = name
    self.generations = generations
  }

  /// "data refresh: mlp on 50% -> mlp on 100%".
  public var description: String { "(\(id)) \(name): " + generations.map(\.label).joined(separator: " -> ") }

  static let half = GenerationSpec(architecture: "mlp", fraction: 0.5)
  static let all = GenerationSpec(architecture: "mlp")

  /// (a) architecture upgrade: MLP on 50% -> CNN on 100%.
  public static let architecture = Scenario(
    id: "a", name: "architecture upgrade", generations: [half, GenerationSpec(architecture: "cnn")])
  /// (b) data refresh: the same MLP, 50% -> 100%.
  public static let dataRefresh = Scenario(id: "b", name: "data refresh", generations: [half, all])
  /// (c) capacity upgrade: a narrow MLP -> a wide one, same data.
  public static let capacity = Scenario(
    id: "c", name: "capacity upgrade",
    generations: [GenerationSpec(architecture: "mlp", parameters: ["hidden": "256,128"], fraction: 0.5),
                  GenerationSpec(architecture: "mlp", parameters: ["hidden": "1024,512"])])
  /// (d) new classes: classes 0-4 -> all 10 (synthesized head rows for 5-9).
  public static let newClasses = Scenario(
    id: "d", name: "new classes", generations: [GenerationSpec(architecture: "mlp", classes: Array(0...4)), all])
  /// (e) three generations: 25% -> 50% -> 100%, each against its parent.
  public static let threeGenerations = Scenario(
    id: "e", name: "three generations",
    generations: [GenerationSpec(architecture: "mlp", fraction: 0.25), half, all])
  /// (e) in the full study: MLP 25% -> MLP 50% -> CNN 100%.
  public static let threeGenerationsCNN = Scenario(
    id: "e", name: "three generations",
    generations: [GenerationSpec(architecture: "mlp", fraction: 0.25), half, GenerationSpec(architecture: "cnn")])

  /// (f) cross-lineage: an MLP and a CNN trained independently, no compatibility
  /// training at all (models trained elsewhere); only adapters connect them.
  public static let crossLineage = Scenario(
    id: "f", name: "cross-lineage", generations: [half, GenerationSpec(architecture: "cnn")])

  /// The MLP-only scenarios of the quick study.
  public static let quick: [Scenario] = [dataRefresh, capacity, newClasses, threeGenerations]
  /// The scenarios of the adapter study: the quick ones and the cross-lineage pair.
  public static let adapterStudy: [Scenario] = quick + [crossLineage]
  /// Every scenario of the full study.
  public static let full: [Scenario] = [architecture, dataRefresh, capacity, newClasses, threeGenerationsCNN]
}

/// A named way of training the new generation against the old one.
public struct StudyMethod: Sendable, Codable, Equatable {
  /// Name used on the command line and in reports.
  public var name: String
  /// What `bct train` flags reproduce it.
  public var flags: String
  /// The objective.
  public var objective: CompatibilityObjective
  /// Cosine logit scale for the influence term; nil = the old head as trained.
  public var influenceCosineScale: Float?
  public var influenceWeight: Float = 1
  /// Weight of the new-to-new supervised contrastive term (set explicitly: the
  /// trainer's default is the chosen method's).
  public var selfContrastiveWeight: Float = 0
  /// Weight of the RACT instance term added to `contrastive` (set explicitly too).
  public var instanceWeight: Float = 0

  /// Applies the method to a training configuration.
  public func configure(_ config: inout TrainingConfiguration) {
    config.compatibility = objective
    config.influenceCosineScale = influenceCosineScale
    config.influenceWeight = influenceWeight
    config.selfContrastiveWeight = selfContrastiveWeight
    config.instanceWeight = instanceWeight
  }

  /// Every method the study knows, baselines first.
  public static let all: [StudyMethod] = [
    .init(name: "influence", flags: "--compat influence", objective: .influence),
    .init(name: "influence-cos", flags: "--compat influence --influence-head cosine", objective: .influence, influenceCosineScale: 16),
    .init(name: "l2", flags: "--compat l2", objective: .l2),
    .init(name: "contrastive", flags: "--compat contrastive --self-contrastive-weight 0 --instance-weight 0",
          objective: .contrastive),
    .init(name: "contrastive-self", flags: "--compat contrastive --instance-weight 0", objective: .contrastive,
          selfContrastiveWeight: 1),
    .init(name: "hybrid", flags: "--compat contrastive (the default)",
          objective: .contrastive, selfContrastiveWeight: 1, instanceWeight: 1),
    .init(name: "ract", flags: "--compat ract", objective: .ract),
    .init(name: "ract-cos", flags: "--compat ract --influence-head cosine", objective: .ract,
          influenceCosineScale: 16),
    .init(name: "ract-only", flags: "--compat ract --influence-weight 0", objective: .ract,
          influenceWeight: 0),
    .init(name: "procrustes", flags: "--compat procrustes", objective: .procrustes),
  ]

  /// The method called `name`, if the study knows it.
  public static func named(_ name: String) -> StudyMethod? { all.first { $0.name == name } }
}
