import BCTTensor
import BCTCollection
import BCTNumerics
import BCTProto
import BCTServing

/// Upserts: validates documents, decodes their tensors, decides which versions
/// each must carry (one normally; the searched and the other side during a
/// shadow upgrade), embeds raw inputs through the encoder, and commits — only
/// if the index's versions did not change meanwhile (else it decides again).
public struct DocumentIntake: Sendable {
  private let store: any CollectionStore
  private let encoder: any EmbeddingProvider
  private let limits: RetrievalLimits

  /// Intake into `store`, embedding through `encoder`.
  public init(store: any CollectionStore, encoder: any EmbeddingProvider, limits: RetrievalLimits) {
    self.store = store
    self.encoder = encoder
    self.limits = limits
  }

  /// What the index's versions require of a write, read at one instant.
  private struct Layout {
    var epoch: Int
    var documentVersion: String?
    var present: [String]
    var shadow: ShadowUpgrade?
    var view: CollectionView

    init(_ view: CollectionView) {
      self.view = view
      epoch = view.epoch
      documentVersion = view.documentVersion
      present = view.searched
      shadow = view.shadow
    }
  }

  private struct LayoutChanged: Error {}

  /// Stores the documents of `request`.
  public func upsert(_ request: Bct_V1_UpsertRequest, deadline: ContinuousClock.Instant?) async throws -> Bct_V1_UpsertResponse {
    try validate(request.documents)
    let needsEncoder = request.documents.contains { !$0.hasEmbedding }
    for _ in 0..<3 {
      let table = try await encoder.models(deadline: deadline)
      let layout = Layout(try await store.view(ViewQuery()))
      let (docs, rawVersion) = try await prepare(request, table: table, layout: layout, deadline: deadline)
      var mutations: [Mutation] = []
      if needsEncoder && layout.documentVersion == nil { mutations.append(.setDocumentVersion(rawVersion)) }
      mutations.append(.upsert(docs))
      let sequence: UInt64
      let replaced: Int
      do {
        (sequence, replaced) = try await store.commit(reading: ViewQuery(ids: docs.map(\.id))) { view in
          guard view.epoch == layout.epoch else { throw LayoutChanged() }
          try view.checkDimensions(docs.flatMap { [VersionedVector(version: $0.version, vector: $0.vector)] + ($0.counterpart.map { [$0] } ?? []) })
          return (mutations, docs.filter { view.documents[$0.id] != nil }.count)
        }
      } catch is LayoutChanged {
        continue
      }
      var response = Bct_V1_UpsertResponse()
      response.inserted = UInt32(docs.count - replaced)
      response.replaced = UInt32(replaced)
      response.modelVersion = needsEncoder ? rawVersion : ""
      response.sequence = sequence
      return response
    }
    throw RetrievalError.versionsKeptChanging
  }

  private func validate(_ docs: [Bct_V1_Document]) throws {
    guard !docs.isEmpty else { throw RetrievalError.invalidArgument(field: "documents", message: "documents: empty; send 1 to \(limits.maxUpsert)") }
    guard docs.count <= limits.maxUpsert else {
      throw RetrievalError.overLimit(field: "documents", message: "\(docs.count) documents in one Upsert, over the maximum of \(limits.maxUpsert); split the batch")
    }
    let payload = docs.reduce(0) { $0 + TensorCodec.payloadBytes($1.input) + $1.embedding.values.count * 4 }
    try TensorCodec.checkPayload(bytes: payload, limit: limits.maxMessageBytes)
    var seen = Set<String>()
    for (i, doc) in docs.enumerated() {
      try limits.validateID(doc.id, at: "documents[\(i)].id")
      guard seen.insert(doc.id).inserted else {
        throw RetrievalError.invalidArgument(field: "documents[\(i)].id", message: "documents[\(i)].id \"\(doc.id)\" appears twice in the request; ids must be unique")
      }
      let metadataBytes = doc.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
      guard metadataBytes <= limits.maxMetadataBytes else {
        throw RetrievalError.invalidArgument(field: "documents[\(i)].metadata", message: "documents[\(i)].metadata holds \(metadataBytes) bytes, over the maximum of \(limits.maxMetadataBytes)")
      }
      guard doc.hasInput || doc.hasEmbedding else {
        throw RetrievalError.invalidArgument(field: "documents[\(i)]", message: "documents[\(i)] (\(doc.id)) carries neither input nor embedding; send one")
      }
    }
  }

  /// The documents to store, with every vector their layout needs, and the version raw inputs were embedded with.
  private func prepare(
    _ request: Bct_V1_UpsertRequest, table: ModelTable, layout: Layout, deadline: ContinuousClock.Instant?
  ) async throws -> ([StoredDocument], String) {
    let docs = request.documents
    let policy = VersionPolicy(table: table)
    let needsEncoder = docs.contains { !$0.hasEmbedding }
    // The versions every document must carry: the searched side, and the other side of a shadow upgrade.
    let (searchedVersion, otherVersion) = try UpgradeRules.writeVersions(
      layout.view, requested: request.modelVersion, fallback: table.defaultVersion)
    if layout.shadow == nil && needsEncoder {
      guard table.versions[searchedVersion] != nil else {
        throw RetrievalError.unknownVersion(field: "model version", version: searchedVersion, known: table.versions.keys.sorted())
      }
      try policy.checkDocument(searchedVersion, against: layout.present, allowUncertified: request.allowUncertified)
    }
    let sides = [searchedVersion] + (otherVersion.map { [$0] } ?? [])
    var stored: [StoredDocument] = []
    stored.reserveCapacity(docs.count)
    var accepted = layout.present + (needsEncoder ? [searchedVersion] : [])
    // Document indexes to embed from the raw input, by version.
    var toEmbed: [String: [Int]] = [:]
    for (i, doc) in docs.enumerated() {
      let given = try embedding(of: doc, at: i, table: table)
      if let shadow = layout.shadow {
        try checkShadowSides(doc, at: i, given: given, target: shadow.target, sides: sides)
      } else if let given {
        try policy.checkDocument(given.version, against: accepted, allowUncertified: request.allowUncertified)
        accepted.append(given.version)
      }
      // An external version has no input shape: a raw input beside its embedding keeps the shape it was sent in.
      let versionShape = table.versions[given?.version ?? searchedVersion].flatMap { $0.takesRawInputs ? $0.inputShape : nil }
      let (input, inputShape) = try rawInput(of: doc, at: i, shape: versionShape)
      let searched = given.map { layout.shadow == nil || $0.version == searchedVersion ? $0 : nil } ?? nil
      var document = StoredDocument(id: doc.id, metadata: doc.metadata, inputShape: inputShape, input: input,
                                    version: searched?.version ?? searchedVersion, vector: searched?.vector ?? [])
      if searched == nil { toEmbed[searchedVersion, default: []].append(i) }
      if let otherVersion {
        if let given, given.version == otherVersion {
          document.counterpart = given
        } else {
          document.counterpart = VersionedVector(version: otherVersion, vector: [])
          toEmbed[otherVersion, default: []].append(i)
        }
      }
      stored.append(document)
    }
    try await fillVectors(&stored, toEmbed: toEmbed, table: table, deadline: deadline)
    return (stored, searchedVersion)
  }

  /// The embedding document `i` carries, checked against its version's size; nil without one.
  private func embedding(of doc: Bct_V1_Document, at i: Int, table: ModelTable) throws -> VersionedVector? {
    guard doc.hasEmbedding else { return nil }
    let version = doc.embedding.modelVersion
    guard !version.isEmpty else {
      throw RetrievalError.invalidArgument(field: "documents[\(i)].embedding.model_version", message: "documents[\(i)].embedding.model_version is empty; say which version made it")
    }
    guard let info = table.versions[version] else {
      throw RetrievalError.unknownVersion(field: "documents[\(i)].embedding.model_version", version: version, known: table.versions.keys.sorted())
    }
    guard doc.embedding.values.count == info.dimension else {
      throw RetrievalError.invalidArgument(field: "documents[\(i)].embedding", message: "documents[\(i)].embedding has \(doc.embedding.values.count) values; \(version) embeds in \(info.dimension)")
    }
    var tensor = Bct_V1_Tensor()
    tensor.shape = [1, Int64(doc.embedding.values.count)]
    tensor.values = doc.embedding.values
    return VersionedVector(version: version, vector: try TensorCodec.decodeBatch(tensor, rowShape: [info.dimension], what: "documents[\(i)].embedding").values)
  }

  /// During a shadow upgrade a document carries both sides' vectors: a given embedding must be of one side, and
  /// the other side is embedded from the raw input, which must then be there.
  private func checkShadowSides(_ doc: Bct_V1_Document, at i: Int, given: VersionedVector?, target: String, sides: [String]) throws {
    if let given, !sides.contains(given.version) {
      throw RetrievalError.shadowEmbeddingVersion(field: "documents[\(i)].embedding", version: given.version, target: target, sides: sides)
    }
    if !doc.hasInput && sides.count > 1 && !(sides.allSatisfy { $0 == given?.version }) {
      throw RetrievalError.shadowNeedsInput(field: "documents[\(i)]", id: doc.id, target: target, sides: sides)
    }
  }

  /// Document `i`'s raw input and the shape it is kept in (the version's, when known), or empty without one.
  private func rawInput(of doc: Bct_V1_Document, at i: Int, shape versionShape: [Int]?) throws -> ([Float], [Int]) {
    guard doc.hasInput else { return ([], []) }
    let shape = versionShape ?? doc.input.shape.map(Int.init)
    var tensor = doc.input
    // One input of the version's shape, or flattened to its values; a leading batch axis of 1 is optional.
    if tensor.shape.count == shape.count || (tensor.shape.count == 1 && tensor.shape.first == TensorCodec.checkedProduct(shape).map(Int64.init)) {
      tensor.shape = [1] + tensor.shape
    }
    let decoded = try TensorCodec.decodeRows(tensor, rowShape: shape, what: "documents[\(i)].input")
    guard decoded.rows == 1 else {
      throw RetrievalError.invalidArgument(field: "documents[\(i)].input", message: "documents[\(i)].input holds \(decoded.rows) inputs of shape \(shape); a document has exactly one")
    }
    return (decoded.values, shape)
  }

  /// Embeds the raw inputs `toEmbed` names (document indexes by version) into the searched or the other vector.
  private func fillVectors(
    _ stored: inout [StoredDocument], toEmbed: [String: [Int]], table: ModelTable, deadline: ContinuousClock.Instant?
  ) async throws {
    for (version, rows) in toEmbed.sorted(by: { $0.key < $1.key }) {
      let vectors = try await embed(rows.map { stored[$0] }, version: version, table: table, deadline: deadline)
      for (r, i) in rows.enumerated() {
        if stored[i].version == version && stored[i].vector.isEmpty {
          stored[i].vector = vectors[r]
        } else {
          stored[i].counterpart?.vector = vectors[r]
        }
      }
    }
  }

  /// Embeddings of the documents' raw inputs by `version`, in order.
  private func embed(_ docs: [StoredDocument], version: String, table: ModelTable, deadline: ContinuousClock.Instant?) async throws -> [[Float]] {
    guard let info = table.versions[version] else {
      throw RetrievalError.unknownVersion(field: "model version", version: version, known: table.versions.keys.sorted())
    }
    guard info.takesRawInputs else { throw RetrievalError.externalVersion(field: "documents.input", version: version) }
    let width = info.inputShape.reduce(1, *)
    if let bad = docs.first(where: { $0.input.count != width }) {
      throw RetrievalError.inputSize(document: bad.id, values: bad.input.count, version: version, shape: info.inputShape)
    }
    let inputs = Matrix(rows: docs.count, columns: width, values: docs.flatMap(\.input))
    let vectors = try await encoder.embed(inputs, rowShape: info.inputShape, version: version, deadline: deadline)
    return (0..<vectors.rows).map { vectors.row($0) }
  }
}

extension RetrievalLimits {
  /// Checks one document id.
  func validateID(_ id: String, at field: String) throws {
    guard !id.isEmpty else { throw RetrievalError.invalidArgument(field: field, message: "\(field) is empty; ids are 1-\(maxIDBytes) bytes") }
    guard id.utf8.count <= maxIDBytes else {
      throw RetrievalError.invalidArgument(field: field, message: "\(field) is \(id.utf8.count) bytes, over the maximum of \(maxIDBytes)")
    }
  }
}
