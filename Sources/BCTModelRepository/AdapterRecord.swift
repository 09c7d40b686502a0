/// An adapter kept in a new version's folder, as its manifest describes it: what
/// it maps, which weights it was fitted for, on what data, and its certificate.
/// Old readers ignore the field, so an adapter never passes for a native certificate.
public struct AdapterRecord: Codable, Sendable, Equatable {
  /// One kind and setting tried while choosing, and its score on the selection split.
  public struct Candidate: Codable, Sendable, Equatable {
    /// "procrustes", "affine" or "mlp".
    public var kind: String
    /// e.g. "ridge 0.001" or "ridge 0.01, epochs 7".
    public var setting: String
    /// Cross-model top-1 and mAP on the selection split, fractions.
    public var top1: Double
    public var meanAveragePrecision: Double

    public init(kind: String, setting: String, top1: Double, meanAveragePrecision: Double) {
      self.kind = kind
      self.setting = setting
      self.top1 = top1
      self.meanAveragePrecision = meanAveragePrecision
    }

    /// The mean of the two: what the choice maximises.
    public var score: Double { (top1 + meanAveragePrecision) / 2 }
  }

  /// The older version A the adapter connects this version B with.
  public var oldVersion: String
  /// "query" (P: B -> A, maps new queries) or "document" (T: A -> B, maps stored old embeddings).
  public var direction: String
  /// "procrustes", "affine" or "mlp".
  public var kind: String
  public var inputDim: Int
  public var outputDim: Int
  /// Hidden width of an MLP adapter's residual branch (0 otherwise).
  public var hiddenDim: Int
  /// File in the version folder holding the weights.
  public var file: String
  /// sha256 (hex) of that file.
  public var fileSha256: String
  /// `weights_sha256` of A and B when fitted; an adapter is refused for other weights.
  public var oldWeightsSha256: String
  public var newWeightsSha256: String
  /// Calibration data it was fitted on, e.g. "fashion-mnist/train less the validation split".
  public var calibration: String
  /// Calibration pairs (including the selection split).
  public var calibrationExamples: Int
  /// Seed of the selection split and of the MLP's training.
  public var fitSeed: UInt64
  /// Every candidate, the chosen one first.
  public var candidates: [Candidate]
  /// The certificate of the mode this adapter serves ("query-adapted" or
  /// "transformed documents"), measured on data never used to fit or choose it.
  public var certificate: CompatibilityCertificate

  public init(
    oldVersion: String, direction: String, kind: String, inputDim: Int, outputDim: Int, hiddenDim: Int, file: String,
    fileSha256: String, oldWeightsSha256: String, newWeightsSha256: String, calibration: String,
    calibrationExamples: Int, fitSeed: UInt64, candidates: [Candidate], certificate: CompatibilityCertificate
  ) {
    self.oldVersion = oldVersion
    self.direction = direction
    self.kind = kind
    self.inputDim = inputDim
    self.outputDim = outputDim
    self.hiddenDim = hiddenDim
    self.file = file
    self.fileSha256 = fileSha256
    self.oldWeightsSha256 = oldWeightsSha256
    self.newWeightsSha256 = newWeightsSha256
    self.calibration = calibration
    self.calibrationExamples = calibrationExamples
    self.fitSeed = fitSeed
    self.candidates = candidates
    self.certificate = certificate
  }

  /// The mode a search uses this adapter in.
  public var mode: String { direction == "query" ? "query-adapted" : "transformed documents" }
}

extension Manifest {
  /// The adapter record for `older` in `direction` ("query" or "document"), if any.
  public func adapter(for older: String, direction: String) -> AdapterRecord? {
    (adapters ?? []).last { $0.oldVersion == older && $0.direction == direction }
  }
}
