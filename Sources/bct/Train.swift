import ArgumentParser
import BCTAdapters
import BCTData
import BCTEvaluation
import BCTModel
import BCTModelRepository
import BCTNumerics
import BCTTraining
import Foundation

/// `bct train`: trains a model version into a model repository folder.
struct Train: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Train a model version, optionally backward-compatible with an old one.",
    discussion: """
      Writes manifest.json, backbone.safetensors and head.safetensors to --out. \
      With --old, the new version is trained against the old version's frozen head \
      (and, for l2/contrastive/ract, its frozen backbone), so its embeddings can be \
      compared with the old version's. A seeded validation split (--val-fraction of \
      the training data, taken before --classes and --fraction) is never trained on; \
      with --old the new version is certified on it against --old and every other \
      version of the lineage in the repository (--old's folder's parent): the manifest \
      gets a compatibility section and compatible_with lists the certified versions. \
      Then, unless --no-adapters, the query adapter and the document transform to \
      --old are fitted on the new version's training examples and each mode is \
      certified on the same split, as bct adapt does: an upgrade refused natively can \
      still take a certified path (query-adapted search or a transform backfill).
      """)

  @Option(help: "Backbone architecture: mlp or cnn.") var arch: String = "mlp"
  @Option(help: "MLP hidden widths, or the CNN's one hidden width.") var hidden: String?
  @Option(help: "CNN channels per conv block.") var channels: String?
  @Option(help: "Embedding dimension (shared by a lineage).") var embeddingDim: Int = 128
  @Option(help: "Epochs.") var epochs: Int = 5
  @Option(help: "Batch size.") var batchSize: Int = 256
  @Option(help: "Optimizer: adam or sgd.") var optimizer: String = "adam"
  @Option(help: "Learning rate.") var lr: Float = 1e-3
  @Option(help: "SGD momentum.") var momentum: Float = 0.9
  @Option(help: "L2 weight decay.") var weightDecay: Float = 0
  @Option(help: "Learning-rate schedule: constant, cosine or step.") var schedule: String = "constant"
  @Option(help: "Random seed (initialisation, shuffling, augmentation).") var seed: UInt64 = 0
  @Option(help: "Output folder: the model version's folder in a model repository.") var out: String
  @Option(name: .customLong("model-version"), help: "Version name (default: the --out folder's name).") var version: String?
  @Option(help: "Old version folder to be compatible with.") var old: String?
  @Option(help: "Compatibility objective with --old: \(CompatibilityObjective.allCases.map(\.rawValue).joined(separator: ", ")) (default \(TrainingConfiguration().compatibility.rawValue)).")
  var compat: String = TrainingConfiguration().compatibility.rawValue
  @Option(help: "Weight of the influence loss (old head, frozen).") var influenceWeight: Float = 1
  @Option(help: "Influence loss head: linear (the old head as trained) or cosine (normalised rows and embeddings).")
  var influenceHead: String = "linear"
  @Option(help: "Logit scale of the cosine influence head.") var cosineScale: Float = 16
  @Option(help: "With --compat contrastive: weight of the new-to-new supervised contrastive term (0 = off).")
  var selfContrastiveWeight: Float = TrainingConfiguration().selfContrastiveWeight
  @Option(help: "With --compat contrastive: weight of an added RACT instance term (positive = the same example's old embedding).")
  var instanceWeight: Float = TrainingConfiguration().instanceWeight
  @Option(help: "Weight of the Hot-Refresh/RACT term (--compat ract).") var ractWeight: Float = 1
  @Option(help: "Temperature of the Hot-Refresh/RACT term.") var ractTemperature: Float = 0.05
  @Option(help: "Weight of the L2 feature regression (--compat l2).") var l2Weight: Float = 1
  @Option(help: "Weight of the new-to-old contrastive term.") var contrastiveWeight: Float = 1
  @Option(help: "Temperature of the new-to-old contrastive term.") var contrastiveTemperature: Float = 0.1
  @Option(help: "Classifier head: linear, or etf (fixed simplex ETF, compatible by construction).")
  var head: String = "linear"
  @Option(help: "Weight of the auxiliary InfoNCE term (0 = off).") var infonceWeight: Float = 0
  @Option(help: "InfoNCE temperature.") var temperature: Float = 0.1
  @Option(help: "MoCo-style queue of earlier keys used as extra InfoNCE negatives.") var queueSize: Int = 0
  @Option(help: "Train on these classes only, e.g. 0-4.") var classes: String?
  @Option(help: "Train on this fraction of the training split, (0, 1].") var fraction: Double = 1
  @Option(help: "Seed of the fixed --fraction subset (kept apart from --seed so versions can share it).")
  var splitSeed: UInt64 = 0
  @Option(help: "Fraction of the training data held out as the validation split, [0, 0.5]; 0 = none (no certificate).")
  var valFraction: Double = 0.1
  @Option(help: "Seed of the validation split (keep it the same across the versions of a lineage).")
  var valSeed: UInt64 = 0
  @OptionGroup var certification: CertificationOptions
  @Option(help: "Model repository holding the lineage's older versions (default: --old's parent folder).")
  var repository: String?
  @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?
  @Flag(inversion: .prefixedNo, help: "With --old: also fit and certify the query adapter and the document transform to it (as bct adapt).")
  var adapters = true
  @Flag(help: "Replace an existing model in --out.") var force = false
  @OptionGroup var data: DataOptions

  func validate() throws {
    guard ["mlp", "cnn"].contains(arch) else { throw ValidationError("--arch must be mlp or cnn, got \(arch)") }
    guard OptimizerKind(rawValue: optimizer) != nil else { throw ValidationError("--optimizer must be adam or sgd") }
    guard LearningRateSchedule(rawValue: schedule) != nil else { throw ValidationError("--schedule must be constant, cosine or step") }
    guard CompatibilityObjective(rawValue: compat) != nil else {
      throw ValidationError("--compat must be one of \(CompatibilityObjective.allCases.map(\.rawValue).joined(separator: ", ")), got \(compat)")
    }
    guard ["linear", "cosine"].contains(influenceHead) else { throw ValidationError("--influence-head must be linear or cosine") }
    guard valFraction >= 0, valFraction <= 0.5 else { throw ValidationError("--val-fraction must be in [0, 0.5], got \(valFraction)") }
    guard cosineScale > 0, ractTemperature > 0, ractWeight >= 0, selfContrastiveWeight >= 0, instanceWeight >= 0 else {
      throw ValidationError("--cosine-scale and --ract-temperature must be > 0, --ract-weight, --self-contrastive-weight and --instance-weight >= 0")
    }
    if let old {
      guard URL(fileURLWithPath: old).standardizedFileURL != URL(fileURLWithPath: out).standardizedFileURL else {
        throw ValidationError("--old and --out are the same folder: train the new version into a folder of its own")
      }
    }
    guard ClassifierHead.Kind(rawValue: head) != nil else { throw ValidationError("--head must be linear or etf") }
    guard fraction > 0, fraction <= 1 else { throw ValidationError("--fraction must be in (0, 1], got \(fraction)") }
    guard epochs > 0, batchSize > 0, embeddingDim > 0 else {
      throw ValidationError("--epochs, --batch-size and --embedding-dim must be positive")
    }
    guard lr > 0, lr.isFinite else { throw ValidationError("--lr must be a positive number") }
    guard queueSize >= 0, infonceWeight >= 0, temperature > 0, contrastiveTemperature > 0 else {
      throw ValidationError("--queue-size and --infonce-weight must be >= 0, temperatures > 0")
    }
  }

  func run() async throws {
    AllocatorTuning.retainLargeBuffers()
    if let threads { BLAS.setThreadCount(threads) }
    let outURL = URL(fileURLWithPath: out)
    if !force, FileManager.default.fileExists(atPath: outURL.appendingPathComponent("manifest.json").path) {
      throw ValidationError("\(out) already holds a model; pass --force to replace it")
    }
    let config = try configuration()
    let oldVersion = try old.map { try ModelVersion.load(from: URL(fileURLWithPath: $0)) }
    let (trainPart, validation) = try data.source.load(.train).validationSplit(fraction: valFraction, seed: valSeed)
    var train = trainPart
    let classList = try classes.map(parseClasses)
    if let classList { train = train.keepingClasses(Set(classList)) }
    train = train.fraction(fraction, seed: splitSeed)
    let name = version ?? outURL.lastPathComponent
    if let oldVersion, oldVersion.version == name {
      throw ValidationError("the new version would be named \(name), as --old is; name it with --out or --model-version")
    }
    let objective = oldVersion == nil ? "fresh lineage" : "compatible with \(oldVersion!.version) (\(compat))"
    ProgressBar.write("bct train: \(name) = \(arch) on \(train.count) examples of \(data.source.name) (\(validation.count) held out for validation), \(objective)\n")

    var bar = ProgressBar()
    let trainer = Trainer(configuration: config)
    let validationInfo = validation.count > 0
      ? Manifest.ValidationInfo(fraction: valFraction, seed: valSeed, examples: validation.count) : nil
    var model = try trainer.train(
      on: train, old: oldVersion,
      run: .init(version: name, dataset: data.source.name, classes: classList, fraction: fraction, validation: validationInfo)
    ) { bar.show($0) }
    if let oldVersion, model.manifest.lineage == oldVersion.manifest.lineage {
      model.manifest = try certify(model, old: oldVersion, validation: validation)
    }
    try model.save(to: outURL)
    print("saved \(name) to \(out) (head \(model.manifest.head.fingerprint.prefix(12)), lineage \(model.manifest.lineage.prefix(12)), \(String(format: "%.1f", model.manifest.training.seconds)) s)")
    if adapters, let oldVersion, validation.count > 1 {
      try fitAdapters(old: oldVersion, new: model, folder: outURL, calibration: train, held: validation)
    }
  }

  /// The training configuration the flags describe.
  private func configuration() throws -> TrainingConfiguration {
    var config = TrainingConfiguration()
    var parameters: [String: String] = [:]
    if let hidden { parameters["hidden"] = hidden }
    if let channels { parameters["channels"] = channels }
    config.architecture = try Architecture(name: arch, parameters: parameters)
    config.embeddingDim = embeddingDim
    config.epochs = epochs
    config.batchSize = batchSize
    config.optimizer = OptimizerKind(rawValue: optimizer)!
    config.learningRate = lr
    config.momentum = momentum
    config.weightDecay = weightDecay
    config.schedule = LearningRateSchedule(rawValue: schedule)!
    config.seed = seed
    config.head = ClassifierHead.Kind(rawValue: head)!
    config.compatibility = CompatibilityObjective(rawValue: compat)!
    config.influenceWeight = influenceWeight
    config.influenceCosineScale = influenceHead == "cosine" ? cosineScale : nil
    config.ractWeight = ractWeight
    config.selfContrastiveWeight = selfContrastiveWeight
    config.instanceWeight = instanceWeight
    config.ractTemperature = ractTemperature
    config.l2Weight = l2Weight
    config.contrastiveWeight = contrastiveWeight
    config.contrastiveTemperature = contrastiveTemperature
    config.infoNCEWeight = infonceWeight
    config.temperature = temperature
    config.queueSize = queueSize
    return config
  }

  /// Fits and certifies the query adapter and the document transform to `old` on
  /// the new version's training examples (`calibration`), certified on `held`, and
  /// writes them into `folder`, where `new` was just saved.
  private func fitAdapters(old: ModelVersion, new: ModelVersion, folder: URL, calibration: Dataset, held: Dataset) throws {
    let started = Date()
    let pair = try AdaptationPair.trained(
      old: old, new: new, calibration: calibration, held: held,
      split: CompatibilityCertifier.validationSplitDescription(fraction: valFraction, seed: valSeed))
    print(try pair.fitAndInstall(
      directions: [.query, .document], kinds: AdapterKind.allCases, fitSeed: seed, settings: certification.settings,
      into: folder))
    print(String(format: "adapters to %@ fitted and checked in %.1f s (--no-adapters skips them)", old.version,
                 Date().timeIntervalSince(started)))
  }

  /// The new version's manifest with certificates against `old` and every other
  /// version of its lineage in the repository, measured on the validation split
  /// restricted to the classes the new version serves.
  private func certify(_ model: ModelVersion, old: ModelVersion, validation: Dataset) throws -> Manifest {
    guard validation.count > 1 else {
      print("not certified: --val-fraction 0 leaves no validation split to certify \(model.version) on; compatible_with stays empty")
      return model.manifest
    }
    if let recorded = old.manifest.training.validation, recorded.fraction != valFraction || recorded.seed != valSeed {
      print("warning: \(old.version) held out a different validation split (fraction \(recorded.fraction), seed \(recorded.seed)); its training data may overlap this one's validation split")
    } else if old.manifest.training.validation == nil {
      print("warning: \(old.version) records no validation split, so it may have trained on this one's validation examples")
    }
    let repositoryURL = repository.map { URL(fileURLWithPath: $0) }
      ?? URL(fileURLWithPath: self.old!).standardizedFileURL.deletingLastPathComponent()
    let others = try LineageScan.versions(
      in: repositoryURL, lineage: model.manifest.lineage, excluding: [model.version, old.version])
    let (certified, certificates) = CompatibilityCertifier.certified(
      model, against: others + [old], on: validation,
      split: CompatibilityCertifier.validationSplitDescription(fraction: valFraction, seed: valSeed),
      settings: certification.settings)
    for certificate in certificates {
      print(certificate.summary(newVersion: model.version))
      print(CertificationOptions.curveTable(certificate, newVersion: model.version))
    }
    return certified.manifest
  }
}
