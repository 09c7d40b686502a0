import BCTNumerics
import BCTProto
import BCTServing
import GRPCCore

/// Upserts: validates documents, decodes their tensors, decides which versions
/// each must carry (one normally; the searched and the other side during a
/// shadow upgrade), embeds raw inputs through the encoder, and commits — only
/// if the index's versions did not change meanwhile (else it decides again).
public struct DocumentIntake: Sendable {
  private let store: any CollectionStore
  private let encoder: any EncoderBackend
  private let limits: RetrievalLimits

  /// Intake into `store`, embedding through `encoder`.
  public init(store: any CollectionStore, encoder: any EncoderBackend, limits: RetrievalLimits) {
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

    init(_ view: CollectionView) {
      epoch = view.layout
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
          guard view.layout == layout.epoch else { throw LayoutChanged() }
          if let conflict = view.dimensionConflict(docs.flatMap { [VersionedVector(version: $0.version, vector: $0.vector)] + ($0.counterpart.map { [$0] } ?? []) }) {
            throw RPCError(code: .failedPrecondition, message: conflict)
          }
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
    throw RPCError(code: .aborted, message: "the index's versions changed three times while this upsert was being embedded (a backfill switching?); retry it")
  }

  private func validate(_ docs: [Bct_V1_Document]) throws {
    guard !docs.isEmpty else { throw RPCError(code: .invalidArgument, message: "documents: empty; send 1 to \(limits.maxUpsert)") }
    guard docs.count <= limits.maxUpsert else {
      throw RPCError(code: .resourceExhausted, message: "\(docs.count) documents in one Upsert, over the maximum of \(limits.maxUpsert); split the batch")
    }
    let payload = docs.reduce(0) { $0 + TensorCodec.payloadBytes($1.input) + $1.embedding.values.count * 4 }
    try TensorCodec.checkPayload(bytes: payload, limit: limits.maxMessageBytes)
    var seen = Set<String>()
    for (i, doc) in docs.enumerated() {
      try limits.validateID(doc.id, at: "documents[\(i)].id")
      guard seen.insert(doc.id).inserted else {
        throw RPCError(code: .invalidArgument, message: "documents[\(i)].id \"\(doc.id)\" appears twice in the request; ids must be unique")
      }
      let metadataBytes = doc.metadata.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count }
      guard metadataBytes <= limits.maxMetadataBytes else {
        throw RPCError(code: .invalidArgument, message: "documents[\(i)].metadata holds \(metadataBytes) bytes, over the maximum of \(limits.maxMetadataBytes)")
      }
      guard doc.hasInput || doc.hasEmbedding else {
        throw RPCError(code: .invalidArgument, message: "documents[\(i)] (\(doc.id)) carries neither input nor embedding; send one")
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
    let known = { table.versions.keys.sorted().joined(separator: ", ") }
    // The versions every document must carry: the searched side, and the other side of a shadow upgrade.
    let searchedVersion: String
    var otherVersion: String?
    if let shadow = layout.shadow {
      guard let previous = shadow.switched ? shadow.previousDocumentVersion : layout.documentVersion else {
        throw RPCError(code: .failedPrecondition, message: "a shadow upgrade to \(shadow.target) is in progress and the index has no document version to embed with; finish or roll it back first")
      }
      (searchedVersion, otherVersion) = shadow.switched ? (shadow.target, previous) : (previous, shadow.target)
      guard request.modelVersion.isEmpty || request.modelVersion == searchedVersion else {
        throw RPCError(code: .failedPrecondition, message: "a shadow upgrade to \(shadow.target) is in progress: raw inputs are embedded with \(searchedVersion) and \(otherVersion!), not \(request.modelVersion); leave model_version empty")
      }
    } else {
      searchedVersion = request.modelVersion.isEmpty ? (layout.documentVersion ?? table.defaultVersion) : request.modelVersion
      if needsEncoder {
        guard table.versions[searchedVersion] != nil else {
          throw RPCError(code: .notFound, message: "model version \"\(searchedVersion)\" is not hosted by the encoder; known: \(known())")
        }
        try policy.checkDocument(searchedVersion, against: layout.present, allowUncertified: request.allowUncertified)
      }
    }
    var stored: [StoredDocument] = []
    stored.reserveCapacity(docs.count)
    var accepted = layout.present + (needsEncoder ? [searchedVersion] : [])
    // (document index, version) pairs to embed from the raw input.
    var toEmbed: [String: [Int]] = [:]
    for (i, doc) in docs.enumerated() {
      var given: VersionedVector?
      if doc.hasEmbedding {
        let version = doc.embedding.modelVersion
        guard !version.isEmpty else {
          throw RPCError(code: .invalidArgument, message: "documents[\(i)].embedding.model_version is empty; say which version made it")
        }
        guard let info = table.versions[version] else {
          throw RPCError(code: .notFound, message: "documents[\(i)].embedding.model_version \"\(version)\" is unknown to the encoder; known: \(known())")
        }
        guard doc.embedding.values.count == info.dimension else {
          throw RPCError(code: .invalidArgument, message: "documents[\(i)].embedding has \(doc.embedding.values.count) values; \(version) embeds in \(info.dimension)")
        }
        var tensor = Bct_V1_Tensor()
        tensor.shape = [1, Int64(doc.embedding.values.count)]
        tensor.values = doc.embedding.values
        given = VersionedVector(version: version, vector: try TensorCodec.decodeBatch(tensor, rowShape: [info.dimension], what: "documents[\(i)].embedding").values)
      }
      let sides = [searchedVersion] + (otherVersion.map { [$0] } ?? [])
      if let shadow = layout.shadow {
        if let given, !sides.contains(given.version) {
          throw RPCError(code: .failedPrecondition, message: "documents[\(i)].embedding is of \(given.version); while the shadow upgrade to \(shadow.target) is in progress documents carry \(sides.joined(separator: " and ")) embeddings (send the raw input)")
        }
        if !doc.hasInput && sides.count > 1 && !(sides.allSatisfy { $0 == given?.version }) {
          throw RPCError(code: .failedPrecondition, message: "documents[\(i)] (\(doc.id)) has no raw input; while the shadow upgrade to \(shadow.target) is in progress every document needs one so that both \(sides.joined(separator: " and ")) embed it")
        }
      } else if let given {
        try policy.checkDocument(given.version, against: accepted, allowUncertified: request.allowUncertified)
        accepted.append(given.version)
      }
      var input: [Float] = []
      var inputShape: [Int] = []
      if doc.hasInput {
        let shape = table.versions[given?.version ?? searchedVersion]?.inputShape ?? doc.input.shape.map(Int.init)
        var tensor = doc.input
        if tensor.shape.count == shape.count { tensor.shape = [1] + tensor.shape }
        let decoded = try TensorCodec.decodeBatch(tensor, rowShape: shape, what: "documents[\(i)].input")
        guard decoded.rows == 1 else {
          throw RPCError(code: .invalidArgument, message: "documents[\(i)].input holds \(decoded.rows) inputs of shape \(shape); a document has exactly one")
        }
        input = decoded.values
        inputShape = shape
      }
      let searched = given.map { layout.shadow == nil || $0.version == searchedVersion ? $0 : nil } ?? nil
      var doc = StoredDocument(id: doc.id, metadata: doc.metadata, inputShape: inputShape, input: input,
                               version: searched?.version ?? searchedVersion, vector: searched?.vector ?? [])
      if searched == nil { toEmbed[searchedVersion, default: []].append(i) }
      if let otherVersion {
        if let given, given.version == otherVersion {
          doc.counterpart = given
        } else {
          doc.counterpart = VersionedVector(version: otherVersion, vector: [])
          toEmbed[otherVersion, default: []].append(i)
        }
      }
      stored.append(doc)
    }
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
    return (stored, searchedVersion)
  }

  /// Embeddings of the documents' raw inputs by `version`, in order.
  private func embed(_ docs: [StoredDocument], version: String, table: ModelTable, deadline: ContinuousClock.Instant?) async throws -> [[Float]] {
    guard let info = table.versions[version] else {
      throw RPCError(code: .notFound, message: "model version \"\(version)\" is not hosted by the encoder; known: \(table.versions.keys.sorted().joined(separator: ", "))")
    }
    let width = info.inputShape.reduce(1, *)
    if let bad = docs.first(where: { $0.input.count != width }) {
      throw RPCError(code: .invalidArgument, message: "document \(bad.id)'s input has \(bad.input.count) values; \(version) takes \(info.inputShape)")
    }
    let inputs = Matrix(rows: docs.count, columns: width, values: docs.flatMap(\.input))
    let vectors = try await encoder.embed(inputs, rowShape: info.inputShape, version: version, deadline: deadline)
    return (0..<vectors.rows).map { vectors.row($0) }
  }
}

extension RetrievalLimits {
  /// Checks one document id.
  func validateID(_ id: String, at field: String) throws {
    guard !id.isEmpty else { throw RPCError(code: .invalidArgument, message: "\(field) is empty; ids are 1-\(maxIDBytes) bytes") }
    guard id.utf8.count <= maxIDBytes else {
      throw RPCError(code: .invalidArgument, message: "\(field) is \(id.utf8.count) bytes, over the maximum of \(maxIDBytes)")
    }
  }
}
