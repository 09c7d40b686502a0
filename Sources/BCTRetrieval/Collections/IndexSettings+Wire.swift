import BCTCollection
import BCTIndex
import BCTProto

extension Bct_V1_IndexSettings {
  /// The index these settings ask for, unset fields taken from `defaults` (the
  /// server's flags); nil when they ask for nothing. INVALID_ARGUMENT for an unknown
  /// kind, HNSW parameters on a flat index, or parameters out of range.
  func indexKind(defaults: IndexKind) throws(RetrievalError) -> IndexKind? {
    switch kind {
    case .unspecified where hnswM == 0 && hnswEfConstruction == 0 && hnswEfSearch == 0:
      return nil
    case .flat:
      guard hnswM == 0 && hnswEfConstruction == 0 && hnswEfSearch == 0 else {
        throw .invalidArgument(field: "index", message: "index.hnsw_* parameters are for KIND_HNSW, not KIND_FLAT")
      }
      return .flat
    case .flatSq8, .flatF16:
      guard hnswM == 0 && hnswEfConstruction == 0 && hnswEfSearch == 0 else {
        throw .invalidArgument(field: "index", message: "index.hnsw_* parameters are for KIND_HNSW, not \(kind)")
      }
      return .quantized(kind == .flatSq8 ? .sq8 : .f16)
    case .hnsw, .unspecified:
      var parameters = HNSWParameters()
      if case .hnsw(let server) = defaults { parameters = server }
      if hnswM != 0 { parameters.m = Int(hnswM) }
      if hnswEfConstruction != 0 { parameters.efConstruction = Int(hnswEfConstruction) }
      if hnswEfSearch != 0 { parameters.efSearch = Int(hnswEfSearch) }
      if let problem = parameters.problem { throw .invalidArgument(field: "index", message: "index: \(problem)") }
      guard parameters.efSearch <= Int(RetrievalLimits.maxEfSearch) else {
        throw .invalidArgument(field: "index", message: "index.hnsw_ef_search must be at most \(RetrievalLimits.maxEfSearch)")
      }
      return .hnsw(parameters)
    case .UNRECOGNIZED(let value):
      throw .invalidArgument(
        field: "index.kind", message: "index.kind \(value) is not KIND_FLAT (1), KIND_HNSW (2), KIND_FLAT_SQ8 (3) or KIND_FLAT_F16 (4)")
    }
  }

  /// The settings of `index`, every parameter filled in.
  init(_ index: IndexKind) {
    self.init()
    switch index {
    case .flat:
      kind = .flat
    case .quantized(let encoding):
      kind = encoding == .sq8 ? .flatSq8 : .flatF16
    case .hnsw(let p):
      kind = .hnsw
      hnswM = UInt32(clamping: p.m)
      hnswEfConstruction = UInt32(clamping: p.efConstruction)
      hnswEfSearch = UInt32(clamping: p.efSearch)
    }
  }
}

extension Bct_V1_CollectionInfo {
  /// What `collection` holds now.
  static func describing(_ collection: HostedCollection) async throws -> Bct_V1_CollectionInfo {
    let view = try await collection.store.view(ViewQuery(sizes: true))
    var info = Bct_V1_CollectionInfo()
    info.name = collection.descriptor.name
    info.index = Bct_V1_IndexSettings(collection.descriptor.index)
    info.documents = UInt64(view.documentCount)
    info.documentVersion = view.documentVersion ?? ""
    return info
  }
}
