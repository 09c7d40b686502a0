import BCTAdapters
import BCTModelRepository
import BCTProto
import BCTTensor
import GRPCCore

extension ModelCatalog {
  /// The query adapter that maps `version`'s embeddings into `target`'s space; nil
  /// when `target` is empty or `version` itself. FAILED_PRECONDITION unless
  /// `version` holds a query adapter to `target` whose mode is certified and which
  /// is usable now.
  public func queryAdapter(from version: String, to target: String) throws -> EmbeddingAdapter? {
    guard !target.isEmpty, target != version else { return nil }
    guard models[target] != nil else {
      throw RPCError(code: .notFound, message: "unknown target_version \"\(target)\"; known versions: \(models.keys.sorted().joined(separator: ", "))")
    }
    guard let slot = adapters.slot(new: version, old: target, direction: .query) else {
      throw RPCError(code: .failedPrecondition, message: "\(version) holds no query adapter to \(target); fit one with bct adapt --old <\(target) folder> --new <\(version) folder>")
    }
    guard slot.record.certificate.verdict == .certified else {
      throw RPCError(code: .failedPrecondition, message: "the query-adapted mode \(version) -> \(target) is not certified: \(slot.record.certificate.reasons.joined(separator: "; "))")
    }
    switch slot.adapter {
    case .success(let adapter): return adapter
    case .failure(let problem):
      throw RPCError(code: .failedPrecondition, message: "the query adapter \(version) -> \(target) cannot be used: \(problem)")
    }
  }

  /// The adapters `version` holds, on the wire.
  public func adapterInfos(of version: String) -> [Bct_V1_AdapterInfo] {
    adapters.slots.values.filter { $0.newVersion == version }
      .sorted { ($0.record.oldVersion, $0.record.direction) < ($1.record.oldVersion, $1.record.direction) }
      .map(Self.info)
  }

  static func info(_ slot: ServedAdapters.Slot) -> Bct_V1_AdapterInfo {
    var info = Bct_V1_AdapterInfo()
    info.oldVersion = slot.record.oldVersion
    info.mode = slot.record.direction == AdapterDirection.query.rawValue ? .queryAdapted : .transformedDocuments
    info.kind = slot.record.kind
    info.inputDim = Int32(clamping: slot.record.inputDim)
    info.outputDim = Int32(clamping: slot.record.outputDim)
    info.certificate = ModelInfoMapping.wire(slot.record.certificate)
    info.fileSha256 = slot.record.fileSha256
    if case .failure(let problem) = slot.adapter {
      info.problem = problem.description
    } else {
      info.usable = true
    }
    return info
  }

  /// GetAdapter: one adapter's description and weights.
  public func adapterResponse(_ request: Bct_V1_GetAdapterRequest) throws -> Bct_V1_GetAdapterResponse {
    let direction: AdapterDirection
    switch request.mode {
    case .queryAdapted: direction = .query
    case .transformedDocuments: direction = .document
    default:
      throw RPCError(code: .invalidArgument, message: "mode must be SEARCH_MODE_QUERY_ADAPTED or SEARCH_MODE_TRANSFORMED_DOCUMENTS")
    }
    guard models[request.modelVersion] != nil else {
      throw RPCError(code: .notFound, message: "unknown model_version \"\(request.modelVersion)\"; known versions: \(models.keys.sorted().joined(separator: ", "))")
    }
    guard let slot = adapters.slot(new: request.modelVersion, old: request.oldVersion, direction: direction) else {
      throw RPCError(code: .notFound, message: "\(request.modelVersion) holds no \(direction.rawValue) adapter to \"\(request.oldVersion)\"; fit one with bct adapt")
    }
    let adapter: EmbeddingAdapter
    switch slot.adapter {
    case .success(let loaded): adapter = loaded
    case .failure(let problem):
      throw RPCError(code: .failedPrecondition, message: "the \(direction.rawValue) adapter \(request.modelVersion) / \(request.oldVersion) cannot be used: \(problem)")
    }
    var response = Bct_V1_GetAdapterResponse()
    response.info = Self.info(slot)
    response.linear = TensorCodec.encode(adapter.linear)
    response.bias = TensorCodec.encode(adapter.bias, shape: [adapter.outputDim])
    if let residual = adapter.residual {
      response.inner = TensorCodec.encode(residual.inner)
      response.innerBias = TensorCodec.encode(residual.innerBias, shape: [adapter.hiddenDim])
      response.outer = TensorCodec.encode(residual.outer)
    }
    return response
  }

  /// The certified, usable search modes between `version` and every other hosted
  /// version (whichever of the two holds the certificate or adapter).
  public func certifiedModes(of version: String) -> [String: [Bct_V1_SearchMode]] {
    var modes: [String: [Bct_V1_SearchMode]] = [:]
    for (other, relation) in relations(of: version) where relation == .certified {
      modes[other, default: []].append(.native)
    }
    for slot in adapters.slots.values where slot.record.certificate.verdict == .certified {
      guard case .success = slot.adapter else { continue }
      let newer = slot.newVersion
      let other = newer == version ? slot.record.oldVersion : slot.record.oldVersion == version ? newer : nil
      guard let other, other != version else { continue }
      modes[other, default: []].append(slot.record.direction == AdapterDirection.query.rawValue ? .queryAdapted : .transformedDocuments)
    }
    return modes.mapValues { Array(Set($0)).sorted { $0.rawValue < $1.rawValue } }
  }
}
