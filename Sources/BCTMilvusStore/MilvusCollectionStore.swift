import BCTCollection
import BCTIndex
import BCTMilvus
import BCTNumerics
import BCTRuntime
import Foundation
import Logging
import Synchronization

/// A collection kept in Milvus: one Milvus collection per model version (id, embedding
/// with an HNSW index, a JSON body holding the caller's metadata and bct's per-document
/// fields, the raw input as a second vector), and bct's state (document version,
/// backfill plan, shadow upgrade and switch) in one record of a small state collection.
/// The retrieval process keeps nothing itself: every read goes to Milvus, so replicas
/// pointed at one location serve one catalogue.
///
/// Writes of one process are serialised (decision, row writes, then the state record);
/// Milvus has no transactions, so writes from several replicas are not (see docs/scaling.md).
public final class MilvusCollectionStore: CollectionStore {
  let client: MilvusClient
  let location: MilvusLocation
  private let hnsw: HNSWParameters
  private let inputSize: @Sendable (String) -> Int?
  private let flushEvery: Int
  private let logger: Logger
  let writer = AsyncMutex()
  private let unflushed = Mutex<Set<String>>([])
  private let lastGeneration = Mutex<UInt64>(0)
  private let unflushedRows = Mutex(0)
  /// Set once the collection is dropped: writes and flushes stop.
  let retired = Mutex(false)

  /// A store at `location` through `client`. New version collections get HNSW with
  /// `hnsw`'s M and efConstruction; searches use its efSearch unless a request sets
  /// one. `inputSize` gives a version's raw input width (from the encoder's model
  /// table) for collections created before any raw input of it arrives. Collections
  /// written to are flushed after `flushEvery` rows.
  public init(
    client: MilvusClient, location: MilvusLocation, hnsw: HNSWParameters = HNSWParameters(), flushEvery: Int = 10_000,
    inputSize: @escaping @Sendable (String) -> Int?, logger: Logger
  ) {
    self.client = client
    self.location = location
    self.hnsw = hnsw
    self.flushEvery = flushEvery
    self.inputSize = inputSize
    self.logger = logger
  }

  /// The state collection's layout as `open` found or created it.
  private let openedState = Mutex<MilvusDocumentCollection?>(nil)

  var stateCollection: MilvusDocumentCollection {
    get throws {
      if let opened = openedState.withLock({ $0 }) { return opened }
      return try MilvusDocumentCollection(name: location.stateCollection, dimension: 2, inputSize: 2)
    }
  }
  private static let controlID = "control"

  /// Checks the server, creates the state collection if needed and loads every
  /// collection the state names.
  public func open() async throws {
    let version = try await client.checkSupported()
    let state = try await client.ensureCollection(try stateCollection)
    openedState.withLock { $0 = state }
    let control = try await readControl()
    for segment in Array(control.searched.values) + Array(control.other.values) {
      try await client.load(segment.collection)
    }
    logger.info("Milvus store opened", metadata: [
      "location": "\(location)", "server": "\(version)", "sequence": "\(control.sequence)",
      "searched": "\(control.searched.keys.sorted())", "other": "\(control.other.keys.sorted())",
    ])
  }

  /// Flushes every collection written since the last flush (on shutdown).
  ///
  /// Flushes run with writers excluded, so none overlaps the drop of a collection it
  /// names: Milvus 2.3.5's data node panics ("send on closed channel") and the whole
  /// server exits when a Flush meets a collection being dropped.
  public func flush() async throws {
    try await writer.withLock {
      let names = unflushed.withLock { names in
        defer { names = [] }
        return names
      }
      unflushedRows.withLock { $0 = 0 }
      if !names.isEmpty && !retired.withLock({ $0 }) { try await client.flush(names.sorted()) }
    }
  }

  // MARK: State record

  private func readControl() async throws -> MilvusControlRecord {
    guard let data = try await client.fetch(try stateCollection, ids: [Self.controlID], vectors: false).first?.metadata else {
      return MilvusControlRecord()
    }
    do {
      return try JSONDecoder().decode(MilvusControlRecord.self, from: data)
    } catch {
      throw MilvusError.malformedReply(call: "Query", detail: "the state record in \(location.stateCollection) does not decode (\(error))")
    }
  }

  private func writeControl(_ control: MilvusControlRecord) async throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = .sortedKeys
    let row = MilvusDocument(id: Self.controlID, embedding: [0, 0], metadata: try encoder.encode(control), hasInput: false, input: [0, 0])
    try await client.upsert(try stateCollection, [row])
  }

  // MARK: Views

  public func view(_ query: ViewQuery) async throws -> CollectionView {
    do {
      return try await read(query).view
    } catch {
      throw Self.status(error)
    }
  }

  private func read(_ query: ViewQuery) async throws -> (control: MilvusControlRecord, view: CollectionView) {
    let control = try await readControl()
    return (control, try await view(query, control: control))
  }

  private func counts(_ segments: [String: MilvusControlRecord.Segment], filter: String? = nil) async throws -> [String: Int] {
    var counts: [String: Int] = [:]
    for (version, segment) in segments {
      let count = try await client.count(segment.collection, filter: filter)
      if count > 0 { counts[version] = count }
    }
    return counts
  }

  private func view(_ query: ViewQuery, control: MilvusControlRecord) async throws -> CollectionView {
    let present = control.searched.filter { control.present.contains($0.key) }
    var dimensions: [String: Int] = [:]
    for (version, segment) in control.other { dimensions[version] = segment.dimension }
    for (version, segment) in present { dimensions[version] = segment.dimension }
    var view = CollectionView(
      epoch: control.layout, documentVersion: control.documentVersion, backfill: control.backfill, shadow: control.shadow,
      searched: present.keys.sorted(), dimensions: dimensions)
    if query.sizes {
      view.searchedCounts = try await counts(present)
      view.otherCounts = try await counts(control.other)
      view.documentCount = view.searchedCounts.values.reduce(0, +)
      view.searchedBytes = view.searchedCounts.reduce(0) { $0 + $1.value * control.searched[$1.key]!.dimension * 4 }
      view.otherBytes = view.otherCounts.reduce(0) { $0 + $1.value * control.other[$1.key]!.dimension * 4 }
    }
    if !query.ids.isEmpty {
      for (version, segment) in present.sorted(by: { $0.key < $1.key }) {
        for row in try await client.fetch(try segment.layout, ids: query.ids, vectors: false) {
          let body = try MilvusRowBody.decode(row.metadata, collection: segment.collection)
          // Of two rows of one document (a write cut short), the newer body, as `documents` reads it.
          if let held = view.documents[row.id], held.generation >= body.generation { continue }
          view.documents[row.id] = DocumentFacts(version: version, counterpart: nil, generation: body.generation, hasInput: row.hasInput)
        }
      }
      for (version, segment) in control.other.sorted(by: { $0.key < $1.key }) {
        for row in try await client.fetch(try segment.layout, ids: query.ids, vectors: false) where view.documents[row.id] != nil {
          view.documents[row.id]!.counterpart = version
        }
      }
    }
    if let outside = query.withoutInputOutside {
      let counted = present.filter { outside.isEmpty || $0.key != outside }
      view.withoutInput = try await counts(counted, filter: Self.hasInput(false)).values.reduce(0, +)
    }
    if let plan = query.pendingFor {
      if plan.shadow {
        for segment in present.values where !view.pending {
          view.pending = try await !client.ids(segment.collection, filter: Self.unmarked(control.shadowToken), limit: 1).isEmpty
        }
      } else {
        view.pending = present.keys.contains { $0 != plan.target }
      }
    }
    return view
  }

  private static func hasInput(_ value: Bool) -> String {
    "\(MilvusDocumentCollection.hasInputField) == \(value)"
  }

  private static func unmarked(_ token: String) -> String {
    "\(MilvusDocumentCollection.markField) != \(MilvusClient.quoted(token))"
  }

  // MARK: Writes

  public func commit<Result: Sendable>(
    reading query: ViewQuery, deciding decide: (CollectionView) throws -> (mutations: [Mutation], result: Result)
  ) async throws -> (sequence: UInt64, result: Result) {
    await writer.lock()
    do {
      guard !retired.withLock({ $0 }) else { throw RetrievalError.storeRefused(detail: "the collection was dropped") }
      let (control, view) = try await read(query)
      let (mutations, result) = try decide(view)
      var next = control
      var drops: [String] = []
      var rows = 0
      for mutation in mutations {
        rows += try await apply(mutation, to: &next, drops: &drops, facts: view.documents)
      }
      // Only changes of bct's state rewrite (and number) the record; document writes
      // leave it alone, so writers of documents never overwrite each other's state.
      if next != control {
        next.sequence += 1
        try await writeControl(next)
      }
      unflushed.withLock { $0.subtract(drops) }
      for collection in drops { try await client.dropCollection(collection) }
      await writer.unlock()
      await flushIfDue(rows: rows)
      return (next.sequence, result)
    } catch {
      await writer.unlock()
      throw Self.status(error)
    }
  }

  /// Milvus errors as the store's domain errors: a server that cannot be reached is
  /// unavailable; an unsupported server or a layout Milvus cannot hold (such as a
  /// vector over 32,768 values) is refused; anything else the server got wrong failed.
  static func status(_ error: any Error) -> any Error {
    if let layout = error as? MilvusLocationError { return RetrievalError.storeRefused(detail: layout.description) }
    switch error as? MilvusError {
    case .unreachable?: return RetrievalError.storeUnavailable(detail: "\(error)")
    case .unsupportedServer?: return RetrievalError.storeRefused(detail: "\(error)")
    case .limitExceeded?: return RetrievalError.overLimit(field: "store", message: "\(error)")
    case .rejected?, .malformedReply?: return RetrievalError.storeFailed(detail: "\(error)")
    case nil: return error
    }
  }

  /// Flushes after `flushEvery` rows; a failed flush is logged (the rows are written,
  /// and Milvus seals segments itself later), never reported as the write's failure.
  private func flushIfDue(rows: Int) async {
    let due = unflushedRows.withLock { total in
      total += rows
      return total >= flushEvery
    }
    guard due else { return }
    do {
      try await flush()
    } catch {
      logger.warning("Milvus flush failed", metadata: ["error": "\(error)"])
    }
  }

  /// Writes one change's rows and applies it to `control`; collections to drop once
  /// the state no longer names them go to `drops`. `facts` are what the decision read
  /// of the documents it names. Returns the rows written.
  private func apply(
    _ mutation: Mutation, to control: inout MilvusControlRecord, drops: inout [String], facts: [String: DocumentFacts]
  ) async throws -> Int {
    switch mutation {
    case .upsert(let docs):
      let written = try await upsert(docs, control: &control)
      let left = Set(docs.compactMap { doc in facts[doc.id].map(\.version).flatMap { $0 == doc.version ? nil : $0 } })
      try await dropEmpty(left, control: &control)
      return written
    case .delete(let ids):
      let nowhere = ids.map { (id: $0, home: String?.none) }
      try await delete(nowhere, from: control.searched)
      try await delete(nowhere, from: control.other)
      try await dropEmpty(Set(ids.compactMap { facts[$0]?.version }), control: &control)
      return ids.count
    case .reembed(let items):
      return try await move(items, control: &control)
    case .shadowEmbed(let items):
      guard let shadow = control.shadow, !shadow.switched else { return 0 }
      return try await shadowEmbed(items.filter { $0.version == shadow.target }, control: &control)
    case .setDocumentVersion(let version):
      control.documentVersion = version
      control.layout += 1
    case .setBackfill(let plan):
      control.backfill = plan
    case .startShadow, .switchShadow, .rollbackShadow, .finalizeShadow:
      try await applyShadowStep(mutation, to: &control, drops: &drops)
    }
    return 0
  }

  /// Starts, switches, rolls back or finalizes the shadow upgrade in `control`.
  private func applyShadowStep(_ mutation: Mutation, to control: inout MilvusControlRecord, drops: inout [String]) async throws {
    switch mutation {
    case .startShadow(let upgrade, let plan):
      drops += control.other.values.map(\.collection)
      control.other = [:]
      if let emptied = control.searched[upgrade.target] {
        if try await client.count(emptied.collection) > 0 {
          throw RetrievalError.storeRefused(
            detail: "the Milvus store keeps one collection per version, and \(upgrade.target) already holds searched documents; move them in place first (or delete them)")
        }
        // The target's emptied collection (its documents moved away in place) takes the shadow copy.
        control.searched[upgrade.target] = nil
        control.present.removeAll { $0 == upgrade.target }
        control.other[upgrade.target] = emptied
      }
      control.shadow = upgrade
      // Random, not derived from the version name: a mark field holds at most 128 bytes.
      control.shadowToken = "shadow-\(String(UInt64.random(in: 1...UInt64.max), radix: 16))"
      control.backfill = plan
      control.layout += 1
    case .switchShadow(let at):
      guard var upgrade = control.shadow, !upgrade.switched else { return }
      upgrade.switchedAt = at
      control.shadow = upgrade
      swap(&control.searched, &control.other)
      try await recountPresent(&control)
      control.documentVersion = upgrade.target
      control.backfill = nil
      control.layout += 1
      markUnflushed(control.searched.values.map(\.collection))
    case .rollbackShadow:
      guard let upgrade = control.shadow else { return }
      if upgrade.switched {
        swap(&control.searched, &control.other)
        control.documentVersion = upgrade.previousDocumentVersion
        try await recountPresent(&control)
      }
      drops += control.other.values.map(\.collection)
      control.other = [:]
      control.shadow = nil
      control.backfill = nil
      control.layout += 1
    case .finalizeShadow:
      guard control.shadow?.switched == true else { return }
      drops += control.other.values.map(\.collection)
      control.other = [:]
      control.shadow = nil
      control.layout += 1
    default:
      return
    }
  }

  /// Takes versions whose searched collections no longer hold documents out of `present`.
  private func dropEmpty(_ versions: Set<String>, control: inout MilvusControlRecord) async throws {
    for version in versions.sorted() where control.present.contains(version) {
      guard let segment = control.searched[version] else { continue }
      if try await client.count(segment.collection) == 0 { control.present.removeAll { $0 == version } }
    }
  }

  /// `present` read from the searched collections (after the copies swap).
  private func recountPresent(_ control: inout MilvusControlRecord) async throws {
    control.present = try await counts(control.searched).keys.sorted()
  }

  /// The collection of `version` in the searched copy (or the other one), created on first use.
  private func segment(
    _ version: String, dimension: Int, searched: Bool, control: inout MilvusControlRecord
  ) async throws -> MilvusDocumentCollection {
    let existing = searched ? control.searched[version] : control.other[version]
    if let existing, existing.dimension != dimension {
      throw RetrievalError.dimensionConflict(version: version, dimension: dimension, held: existing.dimension)
    }
    let name = location.collection(for: version)
    if !searched, control.searched[version] != nil {
      throw RetrievalError.storeRefused(detail: "version \(version) is searched; the Milvus store cannot keep a second copy of it")
    }
    if let existing { return try existing.layout }
    let width = inputSize(version) ?? 1
    let created = try await client.ensureCollection(
      try MilvusDocumentCollection(name: name, dimension: dimension, inputSize: width, m: hnsw.m, efConstruction: hnsw.efConstruction))
    let entry = MilvusControlRecord.Segment(
      collection: created.name, dimension: dimension, inputSize: width, inputEncoding: created.inputEncoding, numbers: true)
    if searched { control.searched[version] = entry } else { control.other[version] = entry }
    return try entry.layout
  }

  /// A Milvus row for a document's vector.
  private func row(
    id: String, vector: [Float], body: MilvusRowBody, hasInput: Bool, mark: String, input: [Float], in collection: MilvusDocumentCollection
  ) throws -> MilvusDocument {
    guard !hasInput || input.count == collection.inputSize else {
      throw RetrievalError.storeRefused(
        detail: "document \(id)'s raw input has \(input.count) values; its Milvus collection \(collection.name) keeps inputs of \(collection.inputSize)")
    }
    return MilvusDocument(
      id: id, embedding: vector, metadata: body.encoded(), hasInput: hasInput, mark: mark,
      input: hasInput ? input : [Float](repeating: 0, count: collection.inputSize))
  }

  private func markPresent(_ version: String, _ control: inout MilvusControlRecord) {
    if !control.present.contains(version) {
      control.present.append(version)
      control.present.sort()
    }
  }

  private func write(_ rows: [MilvusDocument], to collection: MilvusDocumentCollection) async throws {
    try await client.upsert(collection, rows)
    markUnflushed([collection.name])
  }

  /// Deletes each document from every collection of `segments` except the one of its
  /// `home` version (nil: from all of them).
  private func delete(_ placed: [(id: String, home: String?)], from segments: [String: MilvusControlRecord.Segment]) async throws {
    for (version, segment) in segments {
      let ids = placed.filter { $0.home != version }.map(\.id)
      if !ids.isEmpty { try await client.delete(segment.collection, ids: ids) }
    }
  }

  private func markUnflushed(_ names: [String]) {
    unflushed.withLock { $0.formUnion(names) }
  }

  private func upsert(_ docs: [StoredDocument], control: inout MilvusControlRecord) async throws -> Int {
    let filling = control.shadow.map { !$0.switched } ?? false
    var bodies: [String: MilvusRowBody] = [:]
    for doc in docs {
      bodies[doc.id] = MilvusRowBody(metadata: doc.metadata, shape: doc.inputShape, generation: nextGeneration())
    }
    var written = 0
    // The other copy first: a searched row marked done never goes ahead of its target row.
    if control.shadow != nil {
      let counterparts = docs.filter { $0.counterpart != nil }
      for (version, group) in Dictionary(grouping: counterparts, by: { $0.counterpart!.version }).sorted(by: { $0.key < $1.key }) {
        let collection = try await segment(version, dimension: group[0].counterpart!.vector.count, searched: false, control: &control)
        let rows = try group.map {
          try row(
            id: $0.id, vector: $0.counterpart!.vector, body: bodies[$0.id]!, hasInput: !$0.input.isEmpty, mark: "", input: $0.input,
            in: collection)
        }
        try await write(rows, to: collection)
        written += rows.count
      }
      try await delete(docs.map { ($0.id, $0.counterpart?.version) }, from: control.other)
    }
    for (version, group) in Dictionary(grouping: docs, by: \.version).sorted(by: { $0.key < $1.key }) {
      let collection = try await segment(version, dimension: group[0].vector.count, searched: true, control: &control)
      let rows = try group.map {
        try row(
          id: $0.id, vector: $0.vector, body: bodies[$0.id]!, hasInput: !$0.input.isEmpty,
          mark: filling && $0.counterpart != nil ? control.shadowToken : "", input: $0.input, in: collection)
      }
      try await write(rows, to: collection)
      markPresent(version, &control)
      written += rows.count
    }
    // Each document lives in the collection of its version only.
    try await delete(docs.map { ($0.id, $0.version) }, from: control.searched)
    return written
  }

  /// A generation for a new document body: microseconds since 1970, above every one
  /// this process gave before, so the newer of two rows of a document is the larger.
  private func nextGeneration() -> UInt64 {
    lastGeneration.withLock { last in
      last = max(last + 1, UInt64(Date().timeIntervalSince1970 * 1_000_000))
      return last
    }
  }

  /// The searched rows of `ids` as (version, row, body). A document found in two
  /// collections (a move or version change cut short between its write and its
  /// delete) is the newer body; of equal bodies (an interrupted in-place move), the
  /// row of the backfill's target.
  private func searchedRows(
    _ ids: [String], control: MilvusControlRecord, vectors: Bool = true
  ) async throws -> [String: (version: String, row: MilvusDocument, body: MilvusRowBody)] {
    var found: [String: (version: String, row: MilvusDocument, body: MilvusRowBody)] = [:]
    for (version, segment) in control.searched.sorted(by: { $0.key < $1.key }) where control.present.contains(version) {
      for row in try await client.fetch(try segment.layout, ids: ids, vectors: vectors) {
        let body = try MilvusRowBody.decode(row.metadata, collection: segment.collection)
        if let held = found[row.id], held.body.generation > body.generation
          || (held.body.generation == body.generation && held.version == control.backfill?.target) {
          continue
        }
        found[row.id] = (version, row, body)
      }
    }
    return found
  }

  /// An in-place backfill batch: each document moves to its new version's collection.
  private func move(_ items: [Mutation.Reembedded], control: inout MilvusControlRecord) async throws -> Int {
    let current = try await searchedRows(items.map(\.id), control: control)
    var written = 0
    for (version, group) in Dictionary(grouping: items.filter { current[$0.id] != nil }, by: \.version).sorted(by: { $0.key < $1.key }) {
      let collection = try await segment(version, dimension: group[0].vector.count, searched: true, control: &control)
      let rows = try group.map { item in
        let (_, old, body) = current[item.id]!
        return try row(id: item.id, vector: item.vector, body: body, hasInput: old.hasInput, mark: "", input: old.input, in: collection)
      }
      try await write(rows, to: collection)
      markPresent(version, &control)
      written += rows.count
      try await delete(group.map { ($0.id, version) }, from: control.searched)
    }
    try await dropEmpty(Set(items.compactMap { item in current[item.id].map(\.version).flatMap { $0 == item.version ? nil : $0 } }), control: &control)
    return written
  }

  /// A shadow backfill batch: target rows beside the searched ones, and the searched rows marked done.
  private func shadowEmbed(_ items: [Mutation.Reembedded], control: inout MilvusControlRecord) async throws -> Int {
    guard let first = items.first, control.shadow != nil else { return 0 }
    let current = try await searchedRows(items.map(\.id), control: control)
    let present = items.filter { current[$0.id] != nil }
    let collection = try await segment(first.version, dimension: first.vector.count, searched: false, control: &control)
    let rows = try present.map { item in
      let (_, old, body) = current[item.id]!
      return try row(id: item.id, vector: item.vector, body: body, hasInput: old.hasInput, mark: "", input: old.input, in: collection)
    }
    try await write(rows, to: collection)
    for (version, segment) in control.searched {
      let marked = present.filter { current[$0.id]!.version == version }.map { item in
        var done = current[item.id]!.row
        done.mark = control.shadowToken
        return done
      }
      if !marked.isEmpty { try await write(marked, to: try segment.layout) }
    }
    return rows.count * 2
  }

  // MARK: Reads

  public func search(
    _ queries: Matrix, k: Int, options: SearchOptions, filter: MetadataFilter?, check: (CollectionView) throws -> Void
  ) async throws -> StoreHits {
    do {
      let (control, view) = try await read(ViewQuery())
      try check(view)
      let expression = try filter.map { try Self.expression($0, over: view.searched.compactMap { control.searched[$0] }) }
      let rows = (0..<queries.rows).map { queries.row($0) }
      var merged = [[VersionedIndex.Hit]](repeating: [], count: queries.rows)
      for version in view.searched {
        let found = try await client.search(
          try control.searched[version]!.layout, queries: rows, k: k, ef: options.efSearch ?? hnsw.efSearch, filter: expression)
        for (q, hits) in found.enumerated() { merged[q] += hits.map { VersionedIndex.Hit(scored: $0, version: version) } }
      }
      // A document moving between collections (an in-place backfill writes the new row,
      // then deletes the old one) can be seen in both for a moment: it counts once.
      let hits = merged.map { row in
        var seen = Set<String>()
        return Array(row.sorted { $0.scored.score != $1.scored.score ? $0.scored.score > $1.scored.score : $0.scored.id < $1.scored.id }
          .filter { seen.insert($0.scored.id).inserted }.prefix(k))
      }
      let metadata = try await metadata(of: hits, control: control, limit: options.maxReplyBytes ?? .max)
      return StoreHits(present: view.searched, hits: hits, metadata: metadata)
    } catch {
      throw Self.status(error)
    }
  }

  /// The metadata of the final hits, fetched per version collection in batches
  /// only once the reply without it fits `limit`, and stopped (ReplyTooLarge)
  /// as soon as what was fetched passes it.
  private func metadata(
    of hits: [[VersionedIndex.Hit]], control: MilvusControlRecord, limit: Int
  ) async throws -> [String: [String: String]] {
    let all = Array(hits.joined())
    var bytes = all.reduce(0) { $0 + $1.replyBytes(metadata: nil) }
    guard bytes <= limit else { throw ReplyTooLarge(hits: all.count, bytes: bytes, limit: limit) }
    var repeats: [String: Int] = [:]
    var byVersion: [String: [String]] = [:]
    for hit in all {
      repeats[hit.scored.id, default: 0] += 1
      if repeats[hit.scored.id] == 1 { byVersion[hit.version, default: []].append(hit.scored.id) }
    }
    var metadata: [String: [String: String]] = [:]
    for (version, ids) in byVersion.sorted(by: { $0.key < $1.key }) {
      guard let segment = control.searched[version] else { continue }
      for chunk in stride(from: 0, to: ids.count, by: Self.metadataBatch).map({ ids[$0..<min($0 + Self.metadataBatch, ids.count)] }) {
        for row in try await client.fetch(try segment.layout, ids: Array(chunk), vectors: false) {
          let fields = try MilvusRowBody.decode(row.metadata, collection: segment.collection).metadata
          metadata[row.id] = fields
          bytes += (repeats[row.id] ?? 1) * VersionedIndex.Hit.replyBytes(of: fields)
        }
        guard bytes <= limit else { throw ReplyTooLarge(hits: all.count, bytes: bytes, limit: limit) }
      }
    }
    return metadata
  }

  /// Hits whose metadata one fetch asks for.
  static let metadataBatch = 1024

  /// The Milvus expression for `filter` over `segments`; a range over a collection
  /// whose rows may lack their numbers (created before filters) is refused.
  static func expression(_ filter: MetadataFilter, over segments: [MilvusControlRecord.Segment]) throws -> String {
    if MilvusFilterExpression.readsNumbers(filter), let old = segments.first(where: { $0.numbers != true }) {
      throw RetrievalError.filterUnsupported(
        detail: "Milvus collection \(old.collection) was created before numeric filters, so its rows may not carry their numbers; range filters need a collection created since (move the documents by a shadow backfill)")
    }
    return MilvusFilterExpression.expression(filter)
  }

  public func list(after cursor: String?, limit: Int, filter: MetadataFilter?, vectors: Bool) async throws -> [StoredDocument] {
    do {
      let control = try await readControl()
      let segments = control.searched.filter { control.present.contains($0.key) }.map(\.value)
      var clauses = cursor.map { ["\(MilvusDocumentCollection.idField) > \(MilvusClient.quoted($0))"] } ?? []
      if let filter { clauses.append("(\(try Self.expression(filter, over: segments)))") }
      var ids = Set<String>()
      for segment in segments {
        ids.formUnion(try await client.firstIDs(segment.collection, filter: clauses.joined(separator: " and "), limit: limit))
      }
      let page = Array(ids.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }.prefix(limit))
      return try await documents(page, vectors: vectors).map(\.document)
    } catch {
      throw Self.status(error)
    }
  }

  public func documents(_ ids: [String]) async throws -> [(document: StoredDocument, generation: UInt64)] {
    try await documents(ids, vectors: true)
  }

  /// The documents; without `vectors`, Milvus sends no embedding or input back (and
  /// no counterpart is read).
  public func documents(_ ids: [String], vectors: Bool) async throws -> [(document: StoredDocument, generation: UInt64)] {
    do {
      let control = try await readControl()
      let current = try await searchedRows(ids, control: control, vectors: vectors)
      var counterparts: [String: VersionedVector] = [:]
      for (version, segment) in control.other where vectors {
        for row in try await client.fetch(try segment.layout, ids: ids) {
          counterparts[row.id] = VersionedVector(version: version, vector: row.embedding)
        }
      }
      return ids.compactMap { id in
        guard let (version, row, body) = current[id] else { return nil }
        let document = StoredDocument(
          id: id, metadata: body.metadata, inputShape: row.hasInput ? body.shape : [], input: row.hasInput ? row.input : [],
          version: version, vector: row.embedding, counterpart: counterparts[id])
        return (document, body.generation)
      }
    } catch {
      throw Self.status(error)
    }
  }

  /// Ids still to re-embed. A batch cut short between its two writes is repaired
  /// here (with writers excluded): a document already in the target collection of an
  /// in-place backfill leaves its old one; a searched row whose target row exists in a
  /// shadow backfill gets its mark.
  public func pendingIDs(_ plan: BackfillPlan, skipping: Set<String>, limit: Int) async throws -> [String] {
    do {
      return try await writer.withLock { try await pending(plan, skipping: skipping, limit: limit) }
    } catch {
      throw Self.status(error)
    }
  }

  private func pending(_ plan: BackfillPlan, skipping: Set<String>, limit: Int) async throws -> [String] {
    let control = try await readControl()
    let filter: String
    let sources: [(version: String, segment: MilvusControlRecord.Segment)]
    let target: MilvusControlRecord.Segment?
    if plan.shadow {
      guard let upgrade = control.shadow, !upgrade.switched, upgrade.target == plan.target else { return [] }
      filter = Self.unmarked(control.shadowToken)
      sources = control.searched.filter { control.present.contains($0.key) }.map { ($0.key, $0.value) }
      target = control.other[plan.target]
    } else {
      // Documents without a raw input keep their version in place, unless a transform moves them.
      filter = TransformLabel.parse(plan.target) == nil ? Self.hasInput(true) : "\(Self.hasInput(true)) or \(Self.hasInput(false))"
      let versions = UpgradeRules.sourceVersions(plan, searched: control.present)
      sources = control.searched.filter { versions.contains($0.key) }.map { ($0.key, $0.value) }
      target = control.searched[plan.target]
    }
    var ids: [String] = []
    var taken = Set<String>()
    for (_, segment) in sources.sorted(by: { $0.segment.collection < $1.segment.collection }) {
      // Each round repairs what it finds done, so the next one sees other rows; a round that repairs nothing ends.
      while ids.count < limit {
        let found = try await client.ids(segment.collection, filter: filter, limit: min(limit, MilvusClient.maxQueryLimit))
        var done = Set<String>()
        var targetRows: [String: MilvusDocument] = [:]
        if let target {
          for row in try await client.fetch(try target.layout, ids: found, vectors: false) { targetRows[row.id] = row }
          done = Set(targetRows.keys)
        }
        let fresh = found.filter { !taken.contains($0) && !done.contains($0) && !skipping.contains($0) }
        ids += fresh.prefix(limit - ids.count)
        taken.formUnion(fresh)
        guard !done.isEmpty else { break }
        if plan.shadow {
          let rows = try await client.fetch(try segment.layout, ids: Array(done)).map { row in
            var marked = row
            marked.mark = control.shadowToken
            return marked
          }
          try await write(rows, to: try segment.layout)
        } else if let target {
          // Two searched rows of one document: the newer body stays (the target's, after a cut-short move).
          var stale: [String] = []
          var staleTarget: [String] = []
          for row in try await client.fetch(try segment.layout, ids: Array(done), vectors: false) {
            let here = try MilvusRowBody.decode(row.metadata, collection: segment.collection).generation
            let there = try MilvusRowBody.decode(targetRows[row.id]!.metadata, collection: target.collection).generation
            if there >= here { stale.append(row.id) } else { staleTarget.append(row.id) }
          }
          try await client.delete(segment.collection, ids: stale)
          try await client.delete(target.collection, ids: staleTarget)
        }
        logger.info("repaired a backfill batch cut short", metadata: ["documents": "\(done.count)", "collection": "\(segment.collection)"])
      }
    }
    return ids
  }

  public func statistics() async throws -> StoreStatistics {
    do {
      let control = try await readControl()
      var segments: [String: IndexDescription] = [:]
      var rawInputBytes = 0
      for (version, segment) in control.searched where control.present.contains(version) {
        let count = try await client.count(segment.collection)
        guard count > 0 else { continue }
        segments[version] = IndexDescription(
          kind: "milvus-hnsw", hnsw: hnsw, memoryBytes: count * segment.dimension * 4, deletedNodes: 0)
        rawInputBytes += try await client.count(segment.collection, filter: Self.hasInput(true)) * segment.inputSize * 4
      }
      return StoreStatistics(
        indexKind: "milvus-hnsw M=\(hnsw.m) efConstruction=\(hnsw.efConstruction) efSearch=\(hnsw.efSearch) (approximate inner product, Milvus at \(location))",
        segments: segments, rawInputBytes: rawInputBytes, metadataBytes: 0, sequence: control.sequence)
    } catch {
      throw Self.status(error)
    }
  }
}

extension MilvusControlRecord.Segment {
  /// The collection's layout, for the client's calls.
  var layout: MilvusDocumentCollection {
    get throws {
      try MilvusDocumentCollection(name: collection, dimension: dimension, inputSize: inputSize, inputEncoding: inputEncoding ?? .vector)
    }
  }
}
