import ArgumentParser
import BCTCollection
import BCTIndex
import BCTNumerics
import BCTRetrieval
import Foundation
import Logging

/// The restart of an HNSW memory store: a store of the vectors of an .npy file is
/// built and snapshotted (its graph saved beside the snapshot), a log tail written
/// after it, then opened again twice: with the saved graph, and with the graph file
/// removed (the rebuild every start paid before graphs were saved), and last as an
/// exact (flat) store, the floor of any restart of these documents. Checks that the
/// reopened store answers exactly as before the restart, and its recall against
/// exact search. Prints JSON.
struct RestartBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "restart",
    abstract: "HNSW memory store: restart time with the saved graph and with a rebuild; prints JSON.")

  @Option(help: "Base vectors (.npy, rows).") var base: String
  @Option(help: "Query vectors (.npy, rows).") var queries: String
  @Option(help: "Folder for the store (emptied first).") var dataDir: String
  @Option(help: "HNSW links per node.") var m: Int = 16
  @Option(help: "HNSW efConstruction (the build, not the restart, depends on it).") var efConstruction: Int = 40
  @Option(help: "Documents written after the snapshot (the log tail a restart replays).") var tail: Int = 1000
  @Flag(help: "Skip the rebuild measurement (it takes as long as the first build).") var skipRebuild = false
  @Flag(help: "Reopen the store --data-dir already holds (written by an earlier run) instead of building one.") var reuse = false

  func run() async throws {
    let vectors = try ANNBench.matrix(base)
    let queryRows = try ANNBench.matrix(queries)
    let folder = URL(fileURLWithPath: dataDir)
    if !reuse { try? FileManager.default.removeItem(at: folder) }
    let kind = IndexKind.hnsw(HNSWParameters(m: m, efConstruction: efConstruction, efSearch: 64))
    let logger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
    let ids = (0..<vectors.rows).map { "d\($0)" }
    let snapshotRows = max(0, vectors.rows - tail)

    var clock = ContinuousClock.now
    let before: [[String]]
    if reuse {
      before = Self.answers(try DocumentStore(directory: folder, policy: .never, indexKind: kind, logger: logger), queryRows)
    } else {
      let store = try DocumentStore(directory: folder, policy: .never, indexKind: kind, logger: logger)
      try Self.write(store, ids: ids, vectors: vectors, rows: 0..<snapshotRows)
      try store.snapshot()
      try Self.write(store, ids: ids, vectors: vectors, rows: snapshotRows..<vectors.rows)
      try store.sync()
      before = Self.answers(store, queryRows)
    }
    let buildSeconds = (ContinuousClock.now - clock).inSeconds
    let files = try Self.fileSizes(folder)

    clock = ContinuousClock.now
    let loaded = try DocumentStore(directory: folder, policy: .never, indexKind: kind, logger: logger)
    let loadSeconds = (ContinuousClock.now - clock).inSeconds
    let adopted = loaded.read { $0.adoptedGraphs }
    // What writers wait for at each snapshot: the copy that clones the graph.
    let copySeconds = loaded.read { state in
      let started = ContinuousClock.now
      return withExtendedLifetime(state.detached()) { (ContinuousClock.now - started).inSeconds }
    }
    let after = Self.answers(loaded, queryRows)
    let same = zip(after, before).filter { $0.0 == $0.1 }.count
    var exact = FlatIndex(dimension: vectors.columns)
    exact.add(ids: ids, vectors: vectors)
    let truth = exact.search(queryRows, k: 10).map { Set($0.map(\.id)) }
    let recall = Self.recall(after, truth)

    var result: [String: Any] = [
      "count": vectors.rows, "dimension": vectors.columns, "m": m, "ef_construction": efConstruction, "log_tail": tail,
      "build_seconds": buildSeconds, "files": files, "restart_with_graph_seconds": loadSeconds, "graphs_loaded": adopted, "snapshot_copy_seconds": copySeconds,
      "same_answers_after_restart": same, "queries": queryRows.rows, "recall_at_10": recall,
      "recall_before_restart": Self.recall(before, truth),
    ]
    if !skipRebuild {
      for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasPrefix("graphs-") {
        try FileManager.default.removeItem(at: folder.appendingPathComponent(name))
      }
      clock = ContinuousClock.now
      let rebuilt = try DocumentStore(directory: folder, policy: .never, indexKind: kind, logger: logger)
      result["restart_rebuilding_seconds"] = (ContinuousClock.now - clock).inSeconds
      result["rebuilt_recall_at_10"] = Self.recall(Self.answers(rebuilt, queryRows), truth)
    }
    // The same documents as an exact (flat) store: what a restart costs without any graph.
    clock = ContinuousClock.now
    _ = try DocumentStore(directory: folder, policy: .never, indexKind: .flat, logger: logger)
    result["restart_flat_seconds"] = (ContinuousClock.now - clock).inSeconds
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
  }

  /// Commits `rows` as documents of v1, 10,000 per log record.
  static func write(_ store: DocumentStore, ids: [String], vectors: Matrix, rows: Range<Int>) throws {
    for start in stride(from: rows.lowerBound, to: rows.upperBound, by: 10_000) {
      let batch = start..<min(rows.upperBound, start + 10_000)
      try store.commit(.upsert(batch.map { row in
        StoredDocument(id: ids[row], metadata: ["n": "\(row % 10)"], inputShape: [], input: [], version: "v1",
                       vector: vectors.rows(row..<(row + 1)).values)
      }))
    }
  }

  static func answers(_ store: DocumentStore, _ queries: Matrix) -> [[String]] {
    store.read { $0.index.search(queries, k: 10, versions: ["v1"]).map { $0.map(\.scored.id) } }
  }

  static func recall(_ got: [[String]], _ truth: [Set<String>]) -> Double {
    Double(zip(got, truth).map { g, t in g.filter(t.contains).count }.reduce(0, +)) / Double(max(1, truth.count * 10))
  }

  /// Bytes per kind of file in the store's folder.
  static func fileSizes(_ folder: URL) throws -> [String: Int] {
    var sizes: [String: Int] = [:]
    for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) {
      let size = (try FileManager.default.attributesOfItem(atPath: folder.appendingPathComponent(name).path)[.size] as? Int) ?? 0
      sizes[String(name.prefix { $0 != "-" && $0 != "." }), default: 0] += size
    }
    return sizes
  }
}
