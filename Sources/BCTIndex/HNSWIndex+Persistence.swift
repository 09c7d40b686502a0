import CHNSW

/// Saving and loading the graph, so that a restart reads it back instead of
/// rebuilding it: the graph streams out through `chnsw_serialize`, and comes back
/// only after `chnsw_deserialize` has checked every link, level and label and the
/// label table here has been checked against it.
extension HNSWIndex {
  /// Why a saved graph could not be read back.
  public struct GraphError: Error, CustomStringConvertible {
    /// What did not hold.
    public var description: String
  }

  /// Each label's id (nil: a free label), the table a saved graph needs beside it.
  public var labelTable: [String?] { idAtTable }

  /// Whether there is a graph to save (an index that never held a vector has none).
  public var hasGraph: Bool { graphPointer != nil }

  /// Streams the graph's bytes to `sink`, in pieces; nothing when there is no graph.
  public func writeGraph(_ sink: (UnsafeRawBufferPointer) throws -> Void) throws {
    guard let pointer = graphPointer else { return }
    try withoutActuallyEscaping(sink) { sink in
      let box = SinkBox(sink)
      let failed = withExtendedLifetime(box) {
        chnsw_serialize(pointer, { context, bytes, length in
          let box = Unmanaged<SinkBox>.fromOpaque(context!).takeUnretainedValue()
          do {
            try box.body(UnsafeRawBufferPointer(start: bytes, count: length))
            return 0
          } catch {
            box.error = error
            return 1
          }
        }, Unmanaged.passUnretained(box).toOpaque())
      }
      if failed != 0 { throw box.error ?? GraphError(description: "the graph could not be written") }
    }
  }

  /// The number of bytes `writeGraph` streams.
  public var graphByteCount: Int {
    var total = 0
    try? writeGraph { total += $0.count }
    return total
  }

  /// Whether this index holds exactly `documents` (no id more or less, each with
  /// exactly this vector, compared in the graph): what a graph saved beside a snapshot
  /// must show before it stands in for one built from the snapshot.
  public func holdsExactly(_ documents: [(id: String, vector: [Float])]) -> Bool {
    guard count == documents.count, let graph = graphObject else { return documents.isEmpty && count == 0 }
    return documents.allSatisfy { document in
      guard let label = label(of: document.id), document.vector.count == dimension else { return false }
      return document.vector.withUnsafeBufferPointer { graph.holds($0.baseAddress!, label: label, dimension: dimension) }
    }
  }

  /// An index over a graph that `writeGraph` wrote, with `ids` its label table;
  /// throws when the bytes or the table do not hold (the caller rebuilds instead).
  public static func reading(
    graph bytes: UnsafeRawBufferPointer, ids: [String?], dimension: Int, parameters: HNSWParameters
  ) throws -> HNSWIndex {
    guard dimension >= 1, parameters.problem == nil else {
      throw GraphError(description: "saved for a dimension of \(dimension)\(parameters.problem.map { " (\($0))" } ?? "")")
    }
    var error = [CChar](repeating: 0, count: 256)
    guard let pointer = chnsw_deserialize(
      bytes.baseAddress, bytes.count, dimension, parameters.m, parameters.efConstruction, parameters.seed,
      max(1024, ids.count), &error, error.count)
    else { throw GraphError(description: HNSWGraph.text(error)) }
    guard let index = HNSWIndex(dimension: dimension, parameters: parameters, ids: ids, graph: HNSWGraph(adopting: pointer)) else {
      throw GraphError(description: "the label table does not match the graph's live nodes")
    }
    return index
  }
}

/// Carries a throwing sink through the C callback, and what it threw.
private final class SinkBox {
  let body: (UnsafeRawBufferPointer) throws -> Void
  var error: (any Error)?

  init(_ body: @escaping (UnsafeRawBufferPointer) throws -> Void) {
    self.body = body
  }
}
