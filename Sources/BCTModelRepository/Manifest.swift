import BCTModel
import Foundation

/// `manifest.json` of a model version: everything needed to rebuild, serve and
/// judge it. Field names are snake_case on disk.
public struct Manifest: Codable, Sendable, Equatable {
  /// Manifest format; bumped on incompatible changes.
  public var formatVersion: Int = 1
  /// Version name, e.g. "v2" (the folder name by default).
  public var version: String
  /// Backbone architecture.
  public var architecture: ArchitectureInfo
  /// Shape of one input, e.g. `[1, 28, 28]`.
  public var inputShape: [Int]
  /// Mapping of raw inputs before the backbone.
  public var inputNormalization: InputNormalization
  /// Length of one embedding.
  public var embeddingDim: Int
  /// The version's classifier head.
  public var head: HeadInfo
  /// Lineage id: the head fingerprint of the lineage's root version.
  public var lineage: String
  /// Version this one was trained against (frozen old head); nil for a root.
  public var parentVersion: String?
  /// Older versions of the lineage this version is certified against (see `compatibility`).
  public var compatibleWith: [String]
  /// Certificates against older versions of the lineage, measured on held-out
  /// data when the version was trained (or re-certified by `bct eval --certify`).
  /// Nil in manifests written before certificates existed.
  public var compatibility: [CompatibilityCertificate]?
  /// Learned maps between this version and older ones (`bct adapt`), each with the
  /// certificate of the search mode it serves. Nil when none were fitted.
  public var adapters: [AdapterRecord]?
  /// How it was trained.
  public var training: TrainingInfo
  /// Figures recorded by `bct eval`.
  public var evaluations: [EvaluationRecord]
  /// When it was written (ISO 8601).
  public var createdAt: String
  /// What the folder holds; nil (manifests before external versions) means trained.
  public var kind: VersionKind?
  /// What the version is, in words (external versions).
  public var description: String?

  public init(
    version: String, architecture: ArchitectureInfo, inputShape: [Int], inputNormalization: InputNormalization,
    embeddingDim: Int, head: HeadInfo, lineage: String, parentVersion: String?, compatibleWith: [String],
    training: TrainingInfo, evaluations: [EvaluationRecord], createdAt: String,
    compatibility: [CompatibilityCertificate]? = nil
  ) {
    self.compatibility = compatibility
    self.version = version
    self.architecture = architecture
    self.inputShape = inputShape
    self.inputNormalization = inputNormalization
    self.embeddingDim = embeddingDim
    self.head = head
    self.lineage = lineage
    self.parentVersion = parentVersion
    self.compatibleWith = compatibleWith
    self.training = training
    self.evaluations = evaluations
    self.createdAt = createdAt
  }

  public struct ArchitectureInfo: Codable, Sendable, Equatable {
    public var name: String
    public var parameters: [String: String]

    public init(name: String, parameters: [String: String]) {
      self.name = name
      self.parameters = parameters
    }
  }

  public struct HeadInfo: Codable, Sendable, Equatable {
    /// "linear" or "etf".
    public var kind: String
    /// sha256 (hex) of the head's tensors (see `HeadFingerprint`).
    public var fingerprint: String
    /// Rows of the head.
    public var numClasses: Int

    public init(kind: String, fingerprint: String, numClasses: Int) {
      self.kind = kind
      self.fingerprint = fingerprint
      self.numClasses = numClasses
    }
  }

  public struct TrainingInfo: Codable, Sendable, Equatable {
    public var dataset: String
    public var seed: UInt64
    /// Classes trained on; nil means all.
    public var classes: [Int]?
    public var fraction: Double
    /// "none", "influence", "l2" or "contrastive".
    public var compatibilityObjective: String
    public var epochs: Int
    public var batchSize: Int
    public var optimizer: String
    public var learningRate: Double
    /// Loss weights and other knobs, as text.
    public var options: [String: String]
    /// Training examples seen per epoch.
    public var examples: Int
    /// Wall-clock seconds of training.
    public var seconds: Double
    /// The held-out validation split carved from the training data before any
    /// class or fraction selection; nil when the version trained on all of it.
    public var validation: ValidationInfo?

    public init(
      dataset: String, seed: UInt64, classes: [Int]?, fraction: Double, compatibilityObjective: String,
      epochs: Int, batchSize: Int, optimizer: String, learningRate: Double, options: [String: String],
      examples: Int, seconds: Double, validation: ValidationInfo? = nil
    ) {
      self.validation = validation
      self.dataset = dataset
      self.seed = seed
      self.classes = classes
      self.fraction = fraction
      self.compatibilityObjective = compatibilityObjective
      self.epochs = epochs
      self.batchSize = batchSize
      self.optimizer = optimizer
      self.learningRate = learningRate
      self.options = options
      self.examples = examples
      self.seconds = seconds
    }
  }

  /// Which examples of the training data were held out for validation.
  public struct ValidationInfo: Codable, Sendable, Equatable {
    /// Fraction of the training data held out.
    public var fraction: Double
    /// Seed choosing them.
    public var seed: UInt64
    /// Examples held out.
    public var examples: Int

    public init(fraction: Double, seed: UInt64, examples: Int) {
      self.fraction = fraction
      self.seed = seed
      self.examples = examples
    }
  }

  public struct EvaluationRecord: Codable, Sendable, Equatable {
    public var queryVersion: String
    public var galleryVersion: String
    public var top1: Double
    public var top5: Double
    public var meanAveragePrecision: Double
    public var dataset: String

    public init(queryVersion: String, galleryVersion: String, top1: Double, top5: Double, meanAveragePrecision: Double, dataset: String) {
      self.queryVersion = queryVersion
      self.galleryVersion = galleryVersion
      self.top1 = top1
      self.top5 = top5
      self.meanAveragePrecision = meanAveragePrecision
      self.dataset = dataset
    }
  }

  /// JSON with sorted keys, pretty-printed; an external version in its own, shorter form.
  public func encoded() throws -> Data {
    let encoder = JSONEncoder()
    encoder.keyEncodingStrategy = .convertToSnakeCase
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return isExternal ? try encoder.encode(ExternalManifest(self)) : try encoder.encode(self)
  }

  /// Parses `manifest.json` contents of either kind.
  public static func decode(_ data: Data) throws -> Manifest {
    struct Kind: Decodable { var kind: VersionKind? }
    let decoder = JSONDecoder()
    decoder.keyDecodingStrategy = .convertFromSnakeCase
    if try decoder.decode(Kind.self, from: data).kind == .external {
      return try decoder.decode(ExternalManifest.self, from: data).manifest
    }
    return try decoder.decode(Manifest.self, from: data)
  }
}
