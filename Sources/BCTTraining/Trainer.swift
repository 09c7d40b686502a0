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
    guard data.count > 0 else { throw ModelError("no training examples (check --classes and --fraction)") }
    guard config.epochs > 0, config.batchSize > 0 else { throw ModelError("epochs and batch size must be positive") }
    let compatibility = old == nil ? CompatibilityObjective.none : config.compatibility
    if let old {
      guard old.backbone.embeddingDim == config.embeddingDim else {
        throw ModelError("the old version \(old.version) embeds in \(old.backbone.embeddingDim) dimensions but --embedding-dim is \(config.embeddingDim); versions of a lineage share the embedding dimension")
      }
      guard old.backbone.inputShape == data.sampleShape else {
        throw ModelError("the old version \(old.version) takes inputs \(old.backbone.inputShape), the data has \(data.sampleShape)")
      }
    }

    var generator = SeededGenerator(seed: config.seed)
    var backbone = try Backbone(
      architecture: config.architecture, inputShape: data.sampleShape, embeddingDim: config.embeddingDim,
      normalization: .fashionMNIST, generator: &generator)
    let classCount = max(data.classCount, old?.head.classCount ?? 0)
    var head: ClassifierHead
    switch config.head {
    case .linear:
      head = .linear(classes: classCount, embeddingDim: config.embeddingDim, generator: &generator)
    case .etf:
      if let old, old.head.kind == .etf, old.head.classCount >= data.classCount, compatibility != .none {
        head = old.head
      } else {
        head = try .etf(classes: classCount, embeddingDim: config.embeddingDim, seed: config.seed &+ 0xE7F)
      }
    }
    let headTrainable = head.kind == .linear
    // Old head, frozen: never updated below; extended with synthesized rows for
    // classes the old model never saw (class means of old-model embeddings).
    let oldHead = try old.map { try Self.frozenOldHead($0, for: data) }

    var optimizer = Optimizer(kind: config.optimizer, momentum: config.momentum, weightDecay: config.weightDecay)
    var queue = Matrix(rows: 0, columns: config.embeddingDim)
    let batchesPerEpoch = (data.count + config.batchSize - 1) / config.batchSize
    let totalSteps = batchesPerEpoch * config.epochs
    var step = 0
    let started = Date()
    for epoch in 1...config.epochs {
      var order = Array(0..<data.count)
      order.shuffle(using: &generator)
      let epochStart = Date()
      var lossSum: Float = 0
      var seen = 0
      for batchStart in stride(from: 0, to: data.count, by: config.batchSize) {
        let indices = Array(order[batchStart..<min(data.count, batchStart + config.batchSize)])
        let raw = data.inputs.gatherRows(indices)
        let labels = indices.map { data.labels[$0] }

        let (features, trace) = backbone.network.forward(backbone.normalization.apply(raw))
        let ce = Losses.softmaxCrossEntropy(logits: head.logits(features), labels: labels)
        var loss = ce.value
        let headGradients = head.backward(features: features, logitGradient: ce.gradient, needsParameterGradients: headTrainable)
        var featureGradient = headGradients.features

        if let oldHead, compatibility.usesInfluence {
          // Influence loss: L += lambda * CE(old head, frozen, on new embeddings).
          let influence = Losses.influence(
            oldHead: oldHead, features: features, labels: labels, cosineScale: config.influenceCosineScale)
          loss += config.influenceWeight * influence.value
          featureGradient.add(influence.gradient, scaledBy: config.influenceWeight)
        }
        if compatibility.usesOldEmbeddings, let old {
          let oldFeatures = old.backbone.embed(raw)
          switch compatibility {
          case .l2:
            let regression = Losses.featureRegression(new: features, old: oldFeatures)
            loss += config.l2Weight * regression.value
            featureGradient.add(regression.gradient, scaledBy: config.l2Weight)
          case .contrastive, .ract:
            let (unit, norms) = features.l2NormalizedRowsWithNorms()
            let oldUnit = oldFeatures.l2NormalizedRows()
            let (weight, term) = compatibility == .ract
              ? (config.ractWeight, Losses.hotRefreshContrastive(
                  new: unit, old: oldUnit, labels: labels, temperature: config.ractTemperature))
              : (config.contrastiveWeight, Losses.crossModelContrastive(
                  new: unit, old: oldUnit, labels: labels, temperature: config.contrastiveTemperature))
            loss += weight * term.value
            var unitGradient = term.gradient.scaled(by: weight)
            if compatibility == .contrastive, config.instanceWeight > 0 {
              let instance = Losses.hotRefreshContrastive(
                new: unit, old: oldUnit, labels: labels, temperature: config.ractTemperature)
              loss += config.instanceWeight * instance.value
              unitGradient.add(instance.gradient, scaledBy: config.instanceWeight)
            }
            if compatibility == .contrastive, config.selfContrastiveWeight > 0 {
              // New-to-new supervised contrastive: the new space stays tighter than the cross-model one.
              let own = Losses.crossModelContrastive(
                new: unit, old: unit, labels: labels, temperature: config.contrastiveTemperature)
              loss += config.selfContrastiveWeight * own.value
              unitGradient.add(own.gradient, scaledBy: config.selfContrastiveWeight)
            }
            featureGradient.add(l2NormalizeBackward(normalized: unit, norms: norms, gradient: unitGradient))
          case .none, .influence, .procrustes:
            break
          }
        }

        var gradients = backbone.network.backward(featureGradient, trace: trace).parameterGradients
        if config.infoNCEWeight > 0 {
          let (value, extra) = infoNCEGradients(
            backbone: backbone, raw: raw, shape: data.sampleShape, queue: &queue, generator: &generator)
          loss += config.infoNCEWeight * value
          for l in gradients.indices {
            for p in gradients[l].indices { gradients[l][p].add(extra[l][p], scaledBy: config.infoNCEWeight) }
          }
        }

        var parameters = backbone.network.parameters.flatMap { $0 }
        var flatGradients = gradients.flatMap { $0 }
        if headTrainable, let dw = headGradients.weight, let db = headGradients.bias {
          parameters += [head.weight, head.bias]
          flatGradients += [dw, db]
        }
        let rate = config.schedule.rate(base: config.learningRate, step: step, total: totalSteps)
        optimizer.step(&parameters, gradients: flatGradients, rate: rate)
        var offset = 0
        for l in backbone.network.parameters.indices {
          for p in backbone.network.parameters[l].indices {
            backbone.network.parameters[l][p] = parameters[offset]
            offset += 1
          }
        }
        if headTrainable {
          head.weight = parameters[offset]
          head.bias = parameters[offset + 1]
        }
        guard loss.isFinite else {
          throw ModelError("training diverged at epoch \(epoch) (loss \(loss)); lower --lr")
        }
        step += 1
        seen += indices.count
        lossSum += loss * Float(indices.count)
        let elapsed = Date().timeIntervalSince(epochStart)
        progress(TrainingProgress(
          epoch: epoch, epochs: config.epochs, seen: seen, total: data.count, loss: lossSum / Float(seen),
          examplesPerSecond: Double(seen) / max(elapsed, 1e-9), epochFinished: seen == data.count))
      }
    }
    if let old, compatibility == .procrustes {
      backbone = try Self.rotated(backbone, toward: old, on: data)
    }
    return makeVersion(
      backbone: backbone, head: head, old: old, compatibility: compatibility, run: run,
      examples: data.count, seconds: Date().timeIntervalSince(started))
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
    var weight = Matrix(rows: rows, columns: old.head.embeddingDim)
    var bias = [Float](repeating: 0, count: rows)
    for r in 0..<old.head.classCount {
      for c in 0..<old.head.embeddingDim { weight[r, c] = old.head.weight[r, c] }
      bias[r] = old.head.bias.values[r]
    }
    for label in missing {
      let members = data.labels.indices.filter { data.labels[$0] == label }
      let features = old.backbone.embed(data.inputs.gatherRows(members))
      let mean = features.columnSums().scaled(by: 1 / Float(members.count))
      for c in 0..<weight.columns { weight[label, c] = mean.values[c] }
    }
    return ClassifierHead(kind: old.head.kind, weight: weight, bias: Matrix(rows: 1, columns: rows, values: bias))
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
