import BCTModelRepository
import BCTNumerics
import Crypto
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Adapter weights in a version folder: `adapter-<direction>-<old version>.safetensors`,
/// written atomically, read back only for the weights they were fitted for.
public enum AdapterFiles {
  /// The file name of `direction`'s adapter to `oldVersion`.
  public static func fileName(direction: AdapterDirection, oldVersion: String) -> String {
    "adapter-\(direction.rawValue)-\(oldVersion).safetensors"
  }

  /// The adapter's tensors in safetensors form.
  public static func encode(_ adapter: EmbeddingAdapter) -> [UInt8] {
    var tensors: [String: Safetensors.Tensor] = [
      "linear": .init(shape: [adapter.inputDim, adapter.outputDim], values: adapter.linear.values),
      "bias": .init(shape: [adapter.outputDim], values: adapter.bias.values),
    ]
    if let r = adapter.residual {
      tensors["inner"] = .init(shape: [adapter.inputDim, adapter.hiddenDim], values: r.inner.values)
      tensors["inner_bias"] = .init(shape: [adapter.hiddenDim], values: r.innerBias.values)
      tensors["outer"] = .init(shape: [adapter.hiddenDim, adapter.outputDim], values: r.outer.values)
    }
    return Safetensors.encode(tensors, metadata: ["kind": adapter.kind.rawValue])
  }

  /// Writes `adapter` into `folder` under `name` (temporary file, then rename) and
  /// returns the file's sha256.
  public static func write(_ adapter: EmbeddingAdapter, to folder: URL, name: String) throws -> String {
    let bytes = Data(encode(adapter))
    let target = folder.appendingPathComponent(name)
    let temporary = folder.appendingPathComponent(".\(name).tmp")
    try bytes.write(to: temporary)
    guard rename(temporary.path, target.path) == 0 else {
      throw AdapterError.unreadable(file: name, detail: "could not be renamed into place (errno \(errno))")
    }
    return sha256(bytes)
  }

  /// The adapter `record` describes, read from `folder`, after checking that the
  /// file is the one recorded and that `old` and `new` still carry the weights it
  /// was fitted for.
  public static func load(_ record: AdapterRecord, in folder: URL, old: String, new: String) throws(AdapterError) -> EmbeddingAdapter {
    guard record.oldWeightsSha256 == old, record.newWeightsSha256 == new else {
      throw .staleWeights(oldVersion: record.oldVersion, direction: record.direction)
    }
    guard !record.file.contains("/"), let data = FileManager.default.contents(atPath: folder.appendingPathComponent(record.file).path) else {
      throw .unreadable(file: record.file, detail: "missing")
    }
    guard sha256(data) == record.fileSha256 else { throw .unreadable(file: record.file, detail: "its sha256 differs from the manifest's") }
    let adapter: EmbeddingAdapter
    do {
      adapter = try decode(Array(data))
    } catch {
      throw .unreadable(file: record.file, detail: "\(error)")
    }
    guard adapter.kind.rawValue == record.kind, adapter.inputDim == record.inputDim, adapter.outputDim == record.outputDim,
          adapter.hiddenDim == record.hiddenDim
    else { throw .unreadable(file: record.file, detail: "its shapes differ from the manifest's") }
    return adapter
  }

  /// Parses adapter tensors; throws on missing tensors, bad shapes or non-finite weights.
  public static func decode(_ bytes: [UInt8]) throws -> EmbeddingAdapter {
    let (tensors, metadata) = try Safetensors.decode(bytes)
    guard let kind = metadata["kind"].flatMap(AdapterKind.init(rawValue:)) else {
      throw AdapterError.unreadable(file: "adapter", detail: "no known kind in its metadata")
    }
    func matrix(_ name: String, rows: Int? = nil) throws -> Matrix {
      guard let t = tensors[name], (1...2).contains(t.shape.count), t.shape.allSatisfy({ $0 > 0 }) else {
        throw AdapterError.unreadable(file: "adapter", detail: "tensor \(name) missing or not a vector or matrix")
      }
      let shape = t.shape.count == 1 ? [1, t.shape[0]] : t.shape
      return Matrix(rows: shape[0], columns: shape[1], values: t.values)
    }
    let residual = kind == .mlp
      ? EmbeddingAdapter.Residual(inner: try matrix("inner"), innerBias: try matrix("inner_bias"), outer: try matrix("outer"))
      : nil
    let adapter = EmbeddingAdapter(kind: kind, linear: try matrix("linear"), bias: try matrix("bias"), residual: residual)
    if let problem = adapter.problem { throw AdapterError.unreadable(file: "adapter", detail: problem) }
    return adapter
  }

  static func sha256(_ data: Data) -> String {
    SHA256.hash(data: data).hex
  }
}
