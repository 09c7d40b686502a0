import BCTCollection
import BCTNumerics
import BCTRetrieval
import Foundation
import Logging
import Testing

@Suite("Document store: log, apply, snapshot, restore")
struct DocumentStoreTests {
  let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  static func folder() -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("bct-store-\(UUID().uuidString)")
  }

  static func doc(_ id: String, version: String = "v1", value: Float) -> StoredDocument {
    StoredDocument(id: id, metadata: ["label": "\(Int(value))"], inputShape: [1, 2], input: [value, value + 1],
                   version: version, vector: [value, 1 - value, 0.5])
  }

  @Test("mutations round-trip through their log encoding")
  func encoding() throws {
    let mutations: [Mutation] = [
      .upsert([Self.doc("a", value: 1), Self.doc("ü", version: "v2", value: 2)]),
      .delete(["a", "b"]),
      .reembed([.init(id: "a", version: "v2", vector: [1, 2, 3])]),
      .setDocumentVersion("v2"),
      .setBackfill(BackfillPlan(target: "v2", batchSize: 64, rate: 12.5)),
      .setBackfill(nil),
    ]
    for mutation in mutations { #expect(try Mutation.decode(mutation.encoded()) == mutation) }
  }

  @Test("every committed change survives a reopen, with and without a snapshot in between")
  func restore() throws {
    let dir = Self.folder()
    do {
      let store = try DocumentStore(directory: dir, policy: .always, logger: logger)
      try store.commit(.setDocumentVersion("v1"))
      try store.commit(.upsert((0..<20).map { Self.doc("d\($0)", value: Float($0)) }))
      try store.commit(.delete(["d3", "d4"]))
      try store.snapshot()
      try store.commit(.reembed([.init(id: "d5", version: "v2", vector: [0, 0, 1])]))
      try store.commit(.upsert([Self.doc("d3", value: 30)]))
      try store.commit(.setBackfill(BackfillPlan(target: "v2", batchSize: 8, rate: 0)))
    }
    let store = try DocumentStore(directory: dir, policy: .always, logger: logger)
    #expect(store.recoveryProblems.isEmpty)
    #expect(store.sequence == 6)
    store.read { state in
      #expect(state.documents.count == 19)
      #expect(state.documents["d4"] == nil && state.document("d3")?.input == [30, 31])
      #expect(state.index.countsByVersion == ["v1": 18, "v2": 1])
      #expect(state.document("d5")?.vector == [0, 0, 1] && state.document("d5")?.metadata == ["label": "5"])
      #expect(state.documentVersion == "v1" && state.backfill?.target == "v2")
      #expect(state.rawInputBytes == 19 * 2 * 4)
    }
  }

  @Test("a torn last record is dropped at restore; the store keeps working")
  func tornRecord() throws {
    let dir = Self.folder()
    do {
      let store = try DocumentStore(directory: dir, policy: .always, logger: logger)
      try store.commit(.upsert([Self.doc("a", value: 1)]))
      try store.commit(.upsert([Self.doc("b", value: 2)]))
    }
    let segment = try FileManager.default.contentsOfDirectory(atPath: dir.path).first { $0.hasPrefix("wal-") }!
    let url = dir.appendingPathComponent(segment)
    let bytes = try Data(contentsOf: url)
    try bytes.prefix(bytes.count - 4).write(to: url)
    let store = try DocumentStore(directory: dir, policy: .always, logger: logger)
    #expect(store.recoveryProblems.count == 1)
    #expect(store.read { Array($0.documents.keys) } == ["a"])
    try store.commit(.upsert([Self.doc("c", value: 3)]))
    let again = try DocumentStore(directory: dir, policy: .always, logger: logger)
    #expect(again.read { Set($0.documents.keys) } == ["a", "c"] && again.recoveryProblems.isEmpty)
  }
}
