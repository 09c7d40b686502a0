import BCTAdapters
import BCTModelRepository
import Foundation

/// The adapters of the loaded versions, read and checked once per load of the two
/// versions they connect: usable, or refused with the reason (a missing old
/// version, other weights, an altered file).
public struct ServedAdapters: Sendable {
  /// One adapter's state for one load of its two versions.
  public struct Slot: Sendable {
    /// The version holding the adapter (B).
    public var newVersion: String
    /// Load generations of the new and the old version it was checked against.
    public var generations: (new: Int, old: Int?)
    public var record: AdapterRecord
    /// The adapter, or why it cannot be used.
    public var adapter: Result<EmbeddingAdapter, AdapterError>
  }

  /// Slots by `key(new:old:direction:)`.
  public var slots: [String: Slot] = [:]

  public init() {}

  static func key(new: String, old: String, direction: String) -> String { "\(new)|\(old)|\(direction)" }

  /// The slot of `new`'s adapter to `old` in `direction`, if `new` holds one.
  public func slot(new: String, old: String, direction: AdapterDirection) -> Slot? {
    slots[Self.key(new: new, old: old, direction: direction.rawValue)]
  }

  /// The adapters of `models`, reusing `previous` slots whose two loads are unchanged.
  public static func resolve(_ models: [String: ServedModel], previous: ServedAdapters, repository: URL) -> ServedAdapters {
    var next = ServedAdapters()
    for served in models.values {
      for record in served.manifest.adapters ?? [] {
        let key = key(new: served.version, old: record.oldVersion, direction: record.direction)
        let old = models[record.oldVersion]
        if let kept = previous.slots[key], kept.generations.new == served.generation,
           kept.generations.old == old?.generation, kept.record == record {
          next.slots[key] = kept
          continue
        }
        next.slots[key] = Slot(
          newVersion: served.version, generations: (served.generation, old?.generation), record: record,
          adapter: load(record, of: served, old: old, repository: repository))
      }
    }
    return next
  }

  private static func load(_ record: AdapterRecord, of served: ServedModel, old: ServedModel?, repository: URL) -> Result<EmbeddingAdapter, AdapterError> {
    guard let old else {
      return .failure(.unreadable(file: record.file, detail: "its old version \(record.oldVersion) is not hosted"))
    }
    guard AdapterDirection(rawValue: record.direction) != nil else {
      return .failure(.unreadable(file: record.file, detail: "unknown direction \"\(record.direction)\""))
    }
    let folder = repository.appendingPathComponent(served.folder)
    return Result { () throws(AdapterError) in
      let adapter = try AdapterFiles.load(record, in: folder, old: old.weightsDigest, new: served.weightsDigest)
      let (inWidth, outWidth) = record.direction == AdapterDirection.query.rawValue
        ? (served.manifest.embeddingDim, old.manifest.embeddingDim) : (old.manifest.embeddingDim, served.manifest.embeddingDim)
      guard adapter.inputDim == inWidth, adapter.outputDim == outWidth else {
        throw .unreadable(file: record.file, detail: "it maps \(adapter.inputDim) to \(adapter.outputDim) dimensions, the versions need \(inWidth) to \(outWidth)")
      }
      return adapter
    }
  }
}
