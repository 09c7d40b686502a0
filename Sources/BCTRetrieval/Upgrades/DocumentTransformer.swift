import BCTAdapters
import BCTCollection
import BCTNumerics

/// The transform backfill's one step: stored source vectors mapped by the target's
/// document transform T into the target's space (a GEMM, no raw input, no
/// embedding call). T is fetched from the encoder and kept until the listing names
/// another file for it (a re-fit).
final class DocumentTransformer: Sendable {
  private let encoder: any EmbeddingProvider
  private let adapters: AdapterCache

  init(encoder: any EmbeddingProvider) {
    self.encoder = encoder
    self.adapters = AdapterCache(encoder: encoder)
  }

  /// The target of a transform backfill to `target` over `view`: the label
  /// "target<-source" of the one version the documents are searched at (beside
  /// that label itself, when an in-place transform was cut short; or the shadow
  /// upgrade's, when one is under way), checked against the encoder's listing: the
  /// transform must be usable, and certified unless `allowUncertified`.
  static func label(
    target: String, view: CollectionView, table: ModelTable, allowUncertified: Bool
  ) throws(RetrievalError) -> String {
    let label: String
    if let shadow = view.shadow, let parsed = TransformLabel.parse(shadow.target), parsed.target == target {
      label = shadow.target
    } else {
      let moved = view.searched.filter { TransformLabel.parse($0)?.target == target }
      let sources = Set(view.searched.filter { !moved.contains($0) } + moved.compactMap { TransformLabel.parse($0)?.source })
      guard sources.count == 1, let source = sources.first, TransformLabel.parse(source) == nil else {
        throw .transformNeedsOneSource(target: target, searched: view.searched)
      }
      label = TransformLabel.make(target: target, source: source)
    }
    _ = try transformFile(label, in: table, allowUncertified: allowUncertified)
    return label
  }

  /// The sha256 of the file of `label`'s transform; throws unless the encoder lists
  /// that transform as usable, and certified or consented to.
  static func transformFile(_ label: String, in table: ModelTable, allowUncertified: Bool) throws(RetrievalError) -> String {
    let (target, source) = TransformLabel.parse(label) ?? (label, "?")
    guard let info = table.versions[label], let sha = info.transformFileSha256 else {
      throw .transformNotCertified(target: target, source: source)
    }
    guard info.uncertifiedTransform != true || allowUncertified else { throw .transformUncertified(target: target, source: source) }
    return sha
  }

  /// Vectors of `docs` under `label`: copied for documents already there, T applied
  /// to the stored vectors of the label's source otherwise. The transform is checked
  /// against the listing again (it may have been re-fitted or lost its certificate).
  func vectors(_ docs: [StoredDocument], label: String, allowUncertified: Bool) async throws -> [Mutation.Reembedded] {
    guard let (target, source) = TransformLabel.parse(label) else {
      throw RetrievalError.transformNotCertified(target: label, source: "?")
    }
    var items = docs.filter { $0.version == label }.map { Mutation.Reembedded(id: $0.id, version: label, vector: $0.vector) }
    let moving = docs.filter { $0.version != label }
    guard !moving.isEmpty else { return items }
    if let other = moving.first(where: { $0.version != source }) {
      throw RetrievalError.transformSourceMismatch(document: other.id, version: other.version, source: source)
    }
    let table = try await encoder.models(deadline: .now + .seconds(30))
    let sha = try Self.transformFile(label, in: table, allowUncertified: allowUncertified)
    let transform = try await adapters.adapter(holder: target, old: source, direction: .document, fileSha256: sha, deadline: .now + .seconds(30))
    guard let width = moving.first?.vector.count, width == transform.inputDim, moving.allSatisfy({ $0.vector.count == width }) else {
      throw RetrievalError.dimensionConflict(version: source, dimension: moving.first?.vector.count ?? 0, held: transform.inputDim)
    }
    let mapped = transform.apply(Matrix(rows: moving.count, columns: width, values: moving.flatMap(\.vector)))
    for (r, doc) in moving.enumerated() {
      items.append(.init(id: doc.id, version: label, vector: mapped.row(r)))
    }
    return items
  }

}
