import BCTTensor
import BCTModelRepository
import BCTNumerics
import BCTProto
import BCTServing
import GRPCCore
import Logging

/// `bct.v1.Encoder`: embeds batches with any loaded version and lists the versions.
public struct EncoderService: Bct_V1_Encoder.SimpleServiceProtocol {
  private let registry: ModelRegistry
  private let batcher: EmbeddingBatcher
  private let metrics: ServiceMetrics
  private let maxMessageBytes: Int
  private let logger: Logger

  /// The service over `registry`, embedding through `batcher`, refusing requests
  /// with more than `maxMessageBytes` of tensor data.
  public init(
    registry: ModelRegistry, batcher: EmbeddingBatcher, metrics: ServiceMetrics, maxMessageBytes: Int, logger: Logger
  ) {
    self.registry = registry
    self.batcher = batcher
    self.metrics = metrics
    self.maxMessageBytes = maxMessageBytes
    self.logger = logger
  }

  public func embed(request: Bct_V1_EmbedRequest, context: ServerContext) async throws -> Bct_V1_EmbedResponse {
    let catalog = registry.catalog
    let label = request.modelVersion.isEmpty ? (catalog.defaultVersion ?? "") : request.modelVersion
    return try await metrics.measure(method: "Embed", version: catalog.models[label] == nil ? "unknown" : label) {
      let served = try catalog.resolve(request.modelVersion)
      _ = try served.requireBackbone()
      let normalize: Bool
      switch request.normalization {
      case .unspecified, .l2: normalize = true
      case .none: normalize = false
      case .UNRECOGNIZED(let value):
        throw RPCError(code: .invalidArgument, message: "normalization \(value) is not known; use NORMALIZATION_L2 or NORMALIZATION_NONE")
      }
      guard request.hasInputs else {
        throw RPCError(code: .invalidArgument, message: "inputs: missing; expected a tensor of shape [N, \(served.manifest.inputShape.map(String.init).joined(separator: ", "))]")
      }
      try TensorCodec.checkPayload(bytes: TensorCodec.payloadBytes(request.inputs), limit: maxMessageBytes)
      if let rows = request.inputs.shape.first, rows > Int64(batcher.limits.maxBatch) {
        throw RPCError(code: .resourceExhausted, message: "batch of \(rows) inputs is over the maximum of \(batcher.limits.maxBatch); split it")
      }
      let inputs = try TensorCodec.decodeBatch(request.inputs, rowShape: served.manifest.inputShape, what: "inputs")
      let adapter = try catalog.queryAdapter(from: served.version, to: request.targetVersion)
      let raw = try await batcher.embed(inputs, with: served)
      var response = Bct_V1_EmbedResponse()
      response.modelVersion = served.version
      if let adapter {
        response.embeddings = TensorCodec.encode(adapter.apply(raw.l2NormalizedRows()))
        response.normalization = .l2
        response.spaceVersion = request.targetVersion
      } else {
        response.embeddings = TensorCodec.encode(normalize ? raw.l2NormalizedRows() : raw)
        response.normalization = normalize ? .l2 : .none
        response.spaceVersion = served.version
      }
      return response
    }
  }

  public func getAdapter(request: Bct_V1_GetAdapterRequest, context: ServerContext) async throws -> Bct_V1_GetAdapterResponse {
    try await metrics.measure(method: "GetAdapter", version: "") {
      try registry.catalog.adapterResponse(request)
    }
  }

  public func listModels(request: Bct_V1_ListModelsRequest, context: ServerContext) async throws -> Bct_V1_ListModelsResponse {
    try await metrics.measure(method: "ListModels", version: "") {
      let catalog = registry.catalog
      var response = Bct_V1_ListModelsResponse()
      response.defaultVersion = catalog.defaultVersion ?? ""
      response.models = catalog.ordered.map { served in
        var info = ModelInfoMapping.info(
          served.manifest, relations: catalog.relations(of: served.version),
          isDefault: served.version == catalog.defaultVersion)
        info.adapters = catalog.adapterInfos(of: served.version)
        info.certifiedModes = catalog.certifiedModes(of: served.version).mapValues { modes in
          var set = Bct_V1_CertifiedModes()
          set.modes = modes
          return set
        }
        return info
      }
      return response
    }
  }
}

/// Manifest facts as the wire `ModelInfo`.
public enum ModelInfoMapping {
  /// The `ModelInfo` of a version, given its relation to every other hosted version.
  public static func info(_ manifest: Manifest, relations: [String: PairCompatibility], isDefault: Bool) -> Bct_V1_ModelInfo {
    var info = Bct_V1_ModelInfo()
    info.version = manifest.version
    info.architecture = manifest.architecture.name
    info.architectureParameters = manifest.architecture.parameters
    info.inputShape = manifest.inputShape.map(Int64.init)
    info.inputNormalization.scale = manifest.inputNormalization.scale
    info.inputNormalization.mean = manifest.inputNormalization.mean
    info.inputNormalization.std = manifest.inputNormalization.std
    info.embeddingDim = Int32(clamping: manifest.embeddingDim)
    info.headFingerprint = manifest.head.fingerprint
    info.numClasses = Int32(clamping: manifest.head.numClasses)
    info.lineage = manifest.lineage
    info.parentVersion = manifest.parentVersion ?? ""
    info.compatibleWith = relations.filter { $0.value == .certified }.keys.sorted()
    info.compatibility = relations.mapValues(wire)
    info.certificates = manifest.certificates.map(wire)
    info.isDefault = isDefault
    info.kind = manifest.isExternal ? .external : .trained
    info.description_p = manifest.description ?? ""
    info.evaluations = manifest.evaluations.map { record in
      var result = Bct_V1_EvaluationResult()
      result.queryVersion = record.queryVersion
      result.galleryVersion = record.galleryVersion
      result.top1 = record.top1
      result.top5 = record.top5
      result.meanAveragePrecision = record.meanAveragePrecision
      result.dataset = record.dataset
      return result
    }
    info.training.dataset = manifest.training.dataset
    info.training.seed = manifest.training.seed
    info.training.classes = (manifest.training.classes ?? []).map(Int32.init)
    info.training.fraction = manifest.training.fraction
    info.training.compatibilityObjective = manifest.training.compatibilityObjective
    info.training.epochs = Int32(clamping: manifest.training.epochs)
    return info
  }

  /// A pair relation on the wire.
  public static func wire(_ relation: PairCompatibility) -> Bct_V1_PairCompatibility {
    switch relation {
    case .same, .certified: return .certified
    case .uncertified: return .uncertified
    case .incompatible: return .incompatible
    }
  }

  /// A certificate on the wire.
  public static func wire(_ certificate: CompatibilityCertificate) -> Bct_V1_CompatibilityCertificate {
    func figures(_ f: CompatibilityCertificate.Figures) -> Bct_V1_CriterionFigures {
      var out = Bct_V1_CriterionFigures()
      out.oldOld = f.oldOld
      out.newOld = f.newOld
      out.newNew = f.newNew
      return out
    }
    var out = Bct_V1_CompatibilityCertificate()
    out.oldVersion = certificate.oldVersion
    out.oldHeadFingerprint = certificate.oldHeadFingerprint
    out.top1 = figures(certificate.top1)
    out.meanAveragePrecision = figures(certificate.meanAveragePrecision)
    out.marginPoints = certificate.marginPoints
    out.dataset = certificate.dataset
    out.split = certificate.split
    out.examples = Int64(certificate.examples)
    out.verdict = certificate.verdict == .certified ? .certified : .uncertified
    out.reasons = certificate.reasons
    out.issuedAt = certificate.issuedAt
    if let bounds = certificate.bounds { out.bounds = wire(bounds, figures: figures) }
    out.perPair = (certificate.perPair ?? [:]).mapValues(figures)
    return out
  }

  /// Certificate bounds on the wire.
  static func wire(
    _ bounds: CertificateBounds, figures: (CompatibilityCertificate.Figures) -> Bct_V1_CriterionFigures
  ) -> Bct_V1_CertificateBounds {
    var out = Bct_V1_CertificateBounds()
    out.method = bounds.method
    out.resamples = Int64(bounds.resamples)
    out.confidence = bounds.confidence
    out.seed = bounds.seed
    out.catalogueSize = Int64(bounds.catalogueSize)
    out.hubDesignEffect = bounds.hubDesignEffect ?? 0
    out.relevance = bounds.relevance ?? ""
    out.steps = bounds.steps.map { step in
      var s = Bct_V1_StepBound()
      s.metric = step.metric
      s.step = step.step
      s.estimatePoints = step.estimatePoints
      s.projectedPoints = step.projectedPoints
      s.lowerBoundPoints = step.lowerBoundPoints
      s.slopePointsPerDoubling = step.slopePointsPerDoubling
      return s
    }
    out.galleryCurve = bounds.galleryCurve.map { point in
      var p = Bct_V1_GalleryCurvePoint()
      p.gallerySize = Int64(point.gallerySize)
      p.top1 = figures(point.top1)
      p.meanAveragePrecision = figures(point.meanAveragePrecision)
      return p
    }
    return out
  }
}
