import BCTData
import BCTModel
import BCTModelRepository
import BCTNumerics
import Foundation

/// Trains one model version, optionally backward-compatible with an old one.
public struct Trainer: Sendable {
  public let configuration: TrainingConfiguration

  public init(configuration: TrainingConfiguration) {
    self.configuration = configuration
  }

  /// What the run is called and what data it saw, for the manifest.
  public struct RunDescription: Sendable {
    public var version: String
    public var dataset: String
    public var classes: [Int]?
    public var fraction: Double
    /// The validation split held out of the training data before `classes` and `fraction`.
    public var validation: Manifest.ValidationInfo?

    public init(
      version: String, dataset: String, classes: [Int]?, fraction: Double, validation: Manifest.ValidationInfo? = nil
    ) {
      self.version = version
      self.dataset = dataset
      self.classes = classes
      self.fraction = fraction
      self.validation = validation
    }
  }

  /// Trains on `data`; with `old`, the result is compatible with it under the
  /// configured objective. `progress` is called after every batch.
  public func train(
    on data: Dataset, old: ModelVersion?, run: RunDescription,
    progress: (TrainingProgress) -> Void = { _ in }
  ) throws -> ModelVersion {
    let config = configuration
    try check(data, old: old)
    let compatibility = old == nil ? CompatibilityObjective.none : config.compatibility
    var generator = SeededGenerator(seed: config.seed)
    let backbone = try Backbone(
      architecture: config.architecture, inputShape: data.sampleShape, embeddingDim: config.embeddingDim,
      normalization: .fashionMNIST, generator: &generator)
    let head = try initialHead(for: data, old: old, compatibility: compatibility, generator: &generator)
    var state = State(
      backbone: backbone, head: head,
      optimizer: Optimizer(kind: config.optimizer, momentum: config.momentum, weightDecay: config.weightDecay),
      queue: Matrix(rows: 0, columns: config.embeddingDim), generator: generator)
    // Old head, frozen: never updated below; extended with synthesized rows for
    // classes the old model never saw (class means of old-model embeddings).
    let oldHead = try old.map { try Self.frozenOldHead($0, for: data) }
    let context = BatchContext(old: old, oldHead: oldHead, compatibility: compatibility, shape: data.sampleShape,
                               totalSteps: (data.count + config.batchSize - 1) / config.batchSize * config.epochs)
    let started = Date()
    for epoch in 1...config.epochs {
      var order = Array(0..<data.count)
      order.shuffle(using: &state.generator)
      let epochStart = Date()
      var lossSum: Float = 0
      var seen = 0
      for batchStart in stride(from: 0, to: data.count, by: config.batchSize) {
        let indices = Array(order[batchStart..<min(data.count, batchStart + config.batchSize)])
        let loss = trainBatch(
          data.inputs.gatherRows(indices), labels: indices.map { data.labels[$0] }, state: &state, context: context)
        guard loss.isFinite else {
          throw ModelError("training diverged at epoch \(epoch) (loss \(loss)); lower --lr")
        }
        seen += indices.count
        lossSum += loss * Float(indices.count)
        let elapsed = Date().timeIntervalSince(epochStart)
        progress(TrainingProgress(
          epoch: epoch, epochs: config.epochs, seen: seen, total: data.count, loss: lossSum / Float(seen),
          examplesPerSecond: Double(seen) / max(elapsed, 1e-9), epochFinished: seen == data.count))
      }
    }
    if let old, compatibility == .procrustes {
      state.backbone = try Self.rotated(state.backbone, toward: old, on: data)
    }
    return makeVersion(
      backbone: state.backbone, head: state.head, old: old, compatibility: compatibility, run: run,
      examples: data.count, seconds: Date().timeIntervalSince(started))
  }

  /// What changes from batch to batch.
  private struct State {
    var backbone: Backbone
    var head: ClassifierHead
    var optimizer: Optimizer
    /// Momentum-free negatives for InfoNCE.
    var queue: Matrix
    var generator: SeededGenerator
    var step = 0
  }

  /// What every batch of a run reads.
  private struct BatchContext {
    var old: ModelVersion?
    var oldHead: ClassifierHead?
    var compatibility: CompatibilityObjective
    var shape: [Int]
    var totalSteps: Int
  }

  /// Refuses data and an old version this run cannot train on.
  private func check(_ data: Dataset, old: ModelVersion?) throws {
    let config = configuration
    guard data.count > 0 else { throw ModelError("no training examples (check --classes and --fraction)") }
    guard config.epochs > 0, config.batchSize > 0 else { throw ModelError("epochs and batch size must be positive") }
    guard let old else { return }
    guard old.backbone.embeddingDim == config.embeddingDim else {
      throw ModelError("the old version \(old.version) embeds in \(old.backbone.embeddingDim) dimensions but --embedding-dim is \(config.embeddingDim); versions of a lineage share the embedding dimension")
    }
    guard old.backbone.inputShape == data.sampleShape else {
      throw ModelError("the old version \(old.version) takes inputs \(old.backbone.inputShape), the data has \(data.sampleShape)")
    }
  }

  /// The head to train (linear) or to keep fixed (ETF; the old one when it covers the classes of a compatible run).
  private func initialHead(
    for data: Dataset, old: ModelVersion?, compatibility: CompatibilityObjective, generator: inout SeededGenerator
  ) throws -> ClassifierHead {
    let config = configuration
    let classCount = max(data.classCount, old?.head.classCount ?? 0)
    switch config.head {
    case .linear:
      return .linear(classes: classCount, embeddingDim: config.embeddingDim, generator: &generator)
    case .etf:
      if let old, old.head.kind == .etf, old.head.classCount >= data.classCount, compatibility != .none {
        return old.head
      }
      return try .etf(classes: classCount, embeddingDim: config.embeddingDim, seed: config.seed &+ 0xE7F)
    }
  }

  /// One optimisation step on a batch; returns its loss.
  private func trainBatch(_ raw: Matrix, labels: [Int], state: inout State, context: BatchContext) -> Float {
    let config = configuration
    let headTrainable = state.head.kind == .linear
    let (features, trace) = state.backbone.network.forward(state.backbone.normalization.apply(raw))
    let ce = Losses.softmaxCrossEntropy(logits: state.head.logits(features), labels: labels)
    var loss = ce.value
    let headGradients = state.head.backward(features: features, logitGradient: ce.gradient, needsParameterGradients: headTrainable)
    var featureGradient = headGradients.features
    addCompatibilityTerms(features: features, raw: raw, labels: labels, context: context, loss: &loss, gradient: &featureGradient)
    var gradients = state.backbone.network.backward(featureGradient, trace: trace).parameterGradients
    if config.infoNCEWeight > 0 {
      let (value, extra) = infoNCEGradients(
        backbone: state.backbone, raw: raw, shape: context.shape, queue: &state.queue, generator: &state.generator)
      loss += config.infoNCEWeight * value
      for l in gradients.indices {
        for p in gradients[l].indices { gradients[l][p].add(extra[l][p], scaledBy: config.infoNCEWeight) }
      }
    }
    var parameters = state.backbone.network.parameters.flatMap { $0 }
    var flatGradients = gradients.flatMap { $0 }
    if headTrainable, let dw = headGradients.weight, let db = headGradients.bias {
      parameters += [state.head.weight, state.head.bias]
      flatGradients += [dw, db]
    }
    let rate = config.schedule.rate(base: config.learningRate, step: state.step, total: context.totalSteps)
    state.optimizer.step(&parameters, gradients: flatGradients, rate: rate)
    var offset = 0
    for l in state.backbone.network.parameters.indices {
      for p in state.backbone.network.parameters[l].indices {
        state.backbone.network.parameters[l][p] = parameters[offset]
        offset += 1
      }
    }
    if headTrainable {
      state.head.weight = parameters[offset]
      state.head.bias = parameters[offset + 1]
    }
    state.step += 1
    return loss
  }

  /// Adds the weighted compatibility terms of the configured objective to `loss`,
  /// and their gradient with respect to the new embeddings to `gradient`.
  private func addCompatibilityTerms(
    features: Matrix, raw: Matrix, labels: [Int], context: BatchContext, loss value: inout Float, gradient: inout Matrix
  ) {
    let config = configuration
    if let oldHead = context.oldHead, context.compatibility.usesInfluence {
      // Influence loss: L += lambda * CE(old head, frozen, on new embeddings).
      let influence = Losses.influence(
        oldHead: oldHead, features: features, labels: labels, cosineScale: config.influenceCosineScale)
      value += config.influenceWeight * influence.value
      gradient.add(influence.gradient, scaledBy: config.influenceWeight)
    }
    if context.compatibility.usesOldEmbeddings, let old = context.old {
      let oldFeatures = old.backbone.embed(raw)
      switch context.compatibility {
      case .l2:
        let regression = Losses.featureRegression(new: features, old: oldFeatures)
        value += config.l2Weight * regression.value
        gradient.add(regression.gradient, scaledBy: config.l2Weight)
      case .contrastive, .ract:
        gradient.add(contrastiveTerms(features: features, old: oldFeatures, labels: labels, compatibility: context.compatibility, loss: &value))
      case .none, .influence, .procrustes:
        break
      }
    }
  }

  /// The cross-model contrastive objective (class-level, or RACT's instance-level)
  /// on unit embeddings, with the contrastive objective's optional instance and
  /// new-to-new terms; the gradient is taken back through the normalisation.
  private func contrastiveTerms(
    features: Matrix, old oldFeatures: Matrix, labels: [Int], compatibility: CompatibilityObjective, loss value: inout Float
  ) -> Matrix {
    let config = configuration
    let (unit, norms) = features.l2NormalizedRowsWithNorms()
    let oldUnit = oldFeatures.l2NormalizedRows()
    let (weight, term) = compatibility == .ract
      ? (config.ractWeight, Losses.hotRefreshContrastive(
          new: unit, old: oldUnit, labels: labels, temperature: config.ractTemperature))
      : (config.contrastiveWeight, Losses.crossModelContrastive(
          new: unit, old: oldUnit, labels: labels, temperature: config.contrastiveTemperature))
    value += weight * term.value
    var unitGradient = term.gradient.scaled(by: weight)
    if compatibility == .contrastive, config.instanceWeight > 0 {
      let instance = Losses.hotRefreshContrastive(
        new: unit, old: oldUnit, labels: labels, temperature: config.ractTemperature)
      value += config.instanceWeight * instance.value
      unitGradient.add(instance.gradient, scaledBy: config.instanceWeight)
    }
    if compatibility == .contrastive, config.selfContrastiveWeight > 0 {
      // New-to-new supervised contrastive: the new space stays tighter than the cross-model one.
      let own = Losses.crossModelContrastive(
        new: unit, old: unit, labels: labels, temperature: config.contrastiveTemperature)
      value += config.selfContrastiveWeight * own.value
      unitGradient.add(own.gradient, scaledBy: config.selfContrastiveWeight)
    }
    return l2NormalizeBackward(normalized: unit, norms: norms, gradient: unitGradient)
  }

  /// `backbone` with its last linear layer rotated by the orthogonal Procrustes map
  /// from its unit embeddings to `old`'s, fitted on (at most 20,000 of) `data`.
  /// A rotation leaves every similarity among its own embeddings unchanged.
  public static func rotated(_ backbone: Backbone, toward old: ModelVersion, on data: Dataset) throws -> Backbone {
    let sample = data.count <= 20_000 ? data : data.fraction(20_000 / Double(data.count), seed: 0x9C0)
    let source = backbone.embed(sample.inputs).l2NormalizedRows()
    let target = old.backbone.embed(sample.inputs).l2NormalizedRows()
    guard let rotation = Procrustes.fit(source: source, target: target) else {
      throw ModelError("the Procrustes fit to \(old.version) did not converge (the two embedding spaces are degenerate)")
    }
    let last = backbone.network.layers.count - 1
    guard last >= 0, backbone.network.layers[last] is Linear else {
      throw ModelError("the backbone has no final linear layer to rotate")
    }
    // e = h W^T + b; e R = h (R^T W)^T + b R.
    var rotatedBackbone = backbone
    rotatedBackbone.network.parameters[last][0] = BLAS.matmul(rotation, backbone.network.parameters[last][0], transposeA: .transposed)
    rotatedBackbone.network.parameters[last][1] = BLAS.matmul(backbone.network.parameters[last][1], rotation)
    return rotatedBackbone
  }

  /// Gradients of the auxiliary InfoNCE term: two augmented views through the
  /// backbone; view 1 queries, view 2 keys, plus the queue of earlier keys.
  private func infoNCEGradients(
    backbone: Backbone, raw: Matrix, shape: [Int], queue: inout Matrix, generator: inout SeededGenerator
  ) -> (Float, [[Matrix]]) {
    let config = configuration
    let view1 = config.augmentation.apply(raw, shape: shape, using: &generator)
    let view2 = config.augmentation.apply(raw, shape: shape, using: &generator)
    let (f1, t1) = backbone.network.forward(backbone.normalization.apply(view1))
    let (f2, t2) = backbone.network.forward(backbone.normalization.apply(view2))
    let (z1, n1) = f1.l2NormalizedRowsWithNorms()
    let (z2, n2) = f2.l2NormalizedRowsWithNorms()
    let result = Losses.infoNCE(queries: z1, keys: z2, queue: queue, temperature: config.temperature)
    var g = backbone.network.backward(l2NormalizeBackward(normalized: z1, norms: n1, gradient: result.queries), trace: t1).parameterGradients
    let g2 = backbone.network.backward(l2NormalizeBackward(normalized: z2, norms: n2, gradient: result.keys), trace: t2).parameterGradients
    for l in g.indices { for p in g[l].indices { g[l][p].add(g2[l][p]) } }
    if config.queueSize > 0 {
      let merged = z2.values + queue.values
      let rows = min(config.queueSize, merged.count / z2.columns)
      queue = Matrix(rows: rows, columns: z2.columns, values: Array(merged.prefix(rows * z2.columns)))
    }
    return (result.value, g)
  }

  /// The old version's head, frozen, with a synthesized row (the class mean of
  /// old-model embeddings, bias 0) for each class of `data` the old model never saw.
  public static func frozenOldHead(_ old: ModelVersion, for data: Dataset) throws -> ClassifierHead {
    let seen = Set(old.manifest.training.classes ?? Array(0..<old.head.classCount))
    let missing = Set(data.labels).filter { !seen.contains($0) }.sorted()
    guard !missing.isEmpty else { return old.head }
    let rows = max(old.head.classCount, (missing.last ?? 0) + 1)
    let extra = rows - old.head.classCount
    let widened = old.head.appending(
      rows: Matrix(rows: extra, columns: old.head.embeddingDim), bias: [Float](repeating: 0, count: extra))
    var weight = widened.weight
    for label in missing {
      let members = data.labels.indices.filter { data.labels[$0] == label }
      let features = old.backbone.embed(data.inputs.gatherRows(members))
      let mean = features.columnSums().scaled(by: 1 / Float(members.count))
      for c in 0..<weight.columns { weight[label, c] = mean.values[c] }
    }
    return ClassifierHead(kind: old.head.kind, weight: weight, bias: widened.bias)
  }

  private func makeVersion(
    backbone: Backbone, head: ClassifierHead, old: ModelVersion?, compatibility: CompatibilityObjective,
    run: RunDescription, examples: Int, seconds: Double
  ) -> ModelVersion {
    let config = configuration
    let fingerprint = ModelVersion.fingerprint(of: head)
    let compatible = old != nil && compatibility != .none
    var options = config.options(withOld: compatible)
    if let old, !compatible { options["trained-after"] = old.version }
    let manifest = Manifest(
      version: run.version,
      architecture: .init(name: backbone.architecture.name, parameters: backbone.architecture.parameters),
      inputShape: backbone.inputShape,
      inputNormalization: backbone.normalization,
      embeddingDim: backbone.embeddingDim,
      head: .init(kind: head.kind.rawValue, fingerprint: fingerprint, numClasses: head.classCount),
      lineage: compatible ? old!.manifest.lineage : fingerprint,
      parentVersion: compatible ? old!.version : nil,
      compatibleWith: [],
      training: .init(
        dataset: run.dataset, seed: config.seed, classes: run.classes, fraction: run.fraction,
        compatibilityObjective: compatibility.rawValue, epochs: config.epochs, batchSize: config.batchSize,
        optimizer: config.optimizer.rawValue, learningRate: Double(config.learningRate), options: options,
        examples: examples, seconds: seconds, validation: run.validation),
      evaluations: [],
      createdAt: ISO8601DateFormatter().string(from: Date()))
    return ModelVersion(manifest: manifest, backbone: backbone, head: head)
  }
}
