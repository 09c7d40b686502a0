import BCTClient
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import Synchronization
import Testing

/// kill -9 of `bct-retrieval` while a client creates and drops collections as fast
/// as it can: after the restart, every acknowledged create that was not dropped is
/// there and usable, every acknowledged drop is gone, the one in flight is either,
/// and no half-made or half-dropped folder is left.
@Suite("Collections survive kill -9 during create and drop", .serialized)
struct CollectionCrashTests {
  @Test("kill -9 during creates and drops leaves each collection complete or absent (memory store)", arguments: [150, 400, 900])
  func killDuringCreateAndDrop(delayMilliseconds: Int) async throws {
    try await Self.killDuringCreateAndDrop(store: .memory, delayMilliseconds: delayMilliseconds)
  }

  @Test("kill -9 during creates and drops leaves each collection complete or absent (Milvus store)")
  func killDuringCreateAndDropMilvus() async throws {
    try await Self.killDuringCreateAndDrop(store: .milvus, delayMilliseconds: 6_000)
  }

  static func killDuringCreateAndDrop(store: StoreKind, delayMilliseconds: Int) async throws {
    try await store.with { storeArguments in try await killDuringCreateAndDrop(storeArguments, checkFolders: store == .memory, delayMilliseconds) }
  }

  static func killDuringCreateAndDrop(_ storeArguments: [String], checkFolders: Bool, _ delayMilliseconds: Int) async throws {
    let encoder = try await Fixtures.startEncoder(try await RetrievalProcessTests.repository())
    let data = Fixtures.temporaryFolder("bct-data")
    let extra = ["--max-collections", "100000"] + storeArguments
    var retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: extra)
    let started = StartedProcesses(encoder, retrieval)
    defer { Task { await started.killAll() } }
    let acknowledged = Acknowledged()
    let inFlight = Acknowledged()
    let port = retrieval.port
    let worker = Task {
      try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: port)) { connection in
        let admin = RetrievalClient(connection)
        for i in 0..<100_000 {
          let name = "c\(i)"
          inFlight.state.withLock { $0.created = [name] }
          _ = try await admin.createCollection(name, index: i % 3 == 0 ? .with { $0.kind = .hnsw } : nil)
          acknowledged.state.withLock { $0.created.append(name) }
          if i % 2 == 1 {
            inFlight.state.withLock { $0.created = ["c\(i - 1)"] }
            try await admin.dropCollection("c\(i - 1)")
            acknowledged.state.withLock { _ = $0.dropped.insert("c\(i - 1)") }
          }
        }
      }
    }
    // The kill comes `delayMilliseconds` after the client's third acknowledged create.
    let patience = ContinuousClock.now + .seconds(120)
    while acknowledged.state.withLock({ $0.created.count }) < 3 && ContinuousClock.now < patience {
      try await Task.sleep(for: .milliseconds(5))
    }
    try await Task.sleep(for: .milliseconds(delayMilliseconds))
    await retrieval.kill9()
    _ = await worker.result
    let (created, dropped) = acknowledged.state.withLock { $0 }
    // The operation the kill interrupted (a create or a drop) may have taken effect or not.
    let pending = inFlight.state.withLock { $0.created.first }
    retrieval = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data, extra: extra)
    started.add(retrieval)
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: retrieval.port)) { connection in
      let admin = RetrievalClient(connection)
      let listed = Set(try await admin.listCollections().map(\.name))
      for name in created where !dropped.contains(name) && name != pending {
        #expect(listed.contains(name), "acknowledged create of \(name) lost")
      }
      for name in dropped { #expect(!listed.contains(name), "acknowledged drop of \(name) undone") }
      #expect(listed.isSubset(of: Set(created + [pending ?? "", "default"])), "\(listed.subtracting(created))")
      for name in listed.sorted().suffix(4) {
        let collection = admin.addressing(name)
        _ = try await collection.upsert(RetrievalProcessTests.upsertRequest(0..<2, version: "v1"))
        #expect(try await collection.get(.with { $0.ids = ["test-0", "test-1"] }).documents.count == 2, "\(name)")
      }
    }
    if checkFolders {
      let entries = try FileManager.default.contentsOfDirectory(atPath: data.appendingPathComponent("collections").path)
      #expect(!entries.contains { $0.hasPrefix(".") }, "\(entries.filter { $0.hasPrefix(".") })")
    }
    await retrieval.kill9()
    await encoder.kill9()
  }
}

/// What the server acknowledged before the kill.
final class Acknowledged: Sendable {
  let state = Mutex<(created: [String], dropped: Set<String>)>(([], []))
}

/// Processes a test started, killed however it ends.
final class StartedProcesses: Sendable {
  private let processes: Mutex<[ServiceProcess]>

  init(_ processes: ServiceProcess...) { self.processes = Mutex(processes) }

  func add(_ process: ServiceProcess) { processes.withLock { $0.append(process) } }

  func killAll() async {
    for process in processes.withLock({ $0 }) { await process.kill9() }
  }
}
