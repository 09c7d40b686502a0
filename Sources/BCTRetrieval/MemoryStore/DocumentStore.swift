import BCTCollection
import BCTIndex
import BCTStorage
import Foundation
import Logging
import Synchronization

/// The collection and its durability: every change is appended to the write-ahead
/// log (fsynced per policy) before it is applied and acknowledged; snapshots bound
/// the log; construction restores snapshot + log.
public final class DocumentStore: Sendable {
  private struct State {
    var collection: CollectionState
    var sequence: UInt64 = 0
    var changesSinceSnapshot = 0
  }

  private let log: DurableLog
  private let state: ReadWriteLock<State>
  /// Held by one writer from its decision to its applied change (readers go on).
  private let writer = Mutex(())
  /// One snapshot at a time.
  private let snapshotting = Mutex(())
  private let logger: Logger
  private let directory: URL

  /// What recovery reported at startup (torn tails, unreadable snapshots).
  public let recoveryProblems: [String]

  /// Opens the store in `directory`, restoring what it holds into segments
  /// indexed as `indexKind`.
  public init(
    directory: URL, policy: DurableLog.SyncPolicy, operations: FileOperations = .system, indexKind: IndexKind = .flat,
    logger: Logger
  ) throws {
    self.logger = logger
    self.directory = directory
    log = try DurableLog(directory: directory, policy: policy, operations: operations)
    let started = ContinuousClock.now
    let graphs = GraphFile.Prefetch(directory: directory, indexKind: indexKind)
    let recovery = try log.recover()
    var restored = State(collection: CollectionState(indexKind: indexKind))
    var problems = recovery.problems
    if let snapshot = recovery.snapshot {
      restored.collection = try CollectionState.decode(snapshot.payload, indexKind: indexKind) {
        graphs.take(for: snapshot.sequence, problems: &problems)
      }
      restored.sequence = snapshot.sequence
    }
    _ = graphs.take(for: nil, problems: &problems)
    // A graph file is kept only while it stands for the snapshot recovered from.
    GraphFile.removeAll(in: directory, except: restored.collection.adoptedGraphs > 0 ? recovery.snapshot?.sequence : nil)
    for record in recovery.records {
      do {
        restored.collection.apply(try Mutation.decode(record.payload))
        restored.sequence = record.sequence
        restored.changesSinceSnapshot += 1
      } catch {
        problems.append("log record \(record.sequence) does not decode (\(error)); replay stopped there")
        break
      }
    }
    problems += restored.collection.problems
    try log.open(after: restored.sequence)
    state = ReadWriteLock(restored)
    recoveryProblems = problems
    for problem in problems { logger.error("recovery", metadata: ["problem": "\(problem)"]) }
    logger.info("restored collection", metadata: [
      "documents": "\(restored.collection.documents.count)", "sequence": "\(restored.sequence)",
      "snapshot": "\(recovery.snapshot.map { "\($0.sequence)" } ?? "none")", "replayed": "\(recovery.records.count)",
      "index": "\(indexKind.name)", "graphs_loaded": "\(restored.collection.adoptedGraphs)", "seconds": "\(((ContinuousClock.now - started) / .milliseconds(1)).rounded() / 1000)",
    ])
  }

  /// Logs `mutation` durably, applies it, and returns its sequence number.
  @discardableResult
  public func commit(_ mutation: Mutation) throws -> UInt64 {
    try commit { _ in [mutation] }
  }

  /// Logs and applies the mutations `decide` returns for the current state, with
  /// every other writer excluded from the decision to the write (so a check and
  /// the change it allows are one step); returns the last sequence number.
  /// `decide` throws to refuse, and nothing is written then.
  @discardableResult
  public func commit(deciding decide: (CollectionState) throws -> [Mutation]) throws -> UInt64 {
    try writer.withLock { _ in
      let mutations = try state.read { try decide($0.collection) }
      var sequence = state.read { $0.sequence }
      for mutation in mutations {
        sequence += 1
        do {
          try log.append(sequence: sequence, payload: mutation.encoded())
        } catch {
          logger.error("write-ahead log append failed", metadata: ["sequence": "\(sequence)", "error": "\(error)"])
          throw RetrievalError.logWriteFailed(detail: "\(error)")
        }
        state.write { state in
          state.collection.apply(mutation)
          state.sequence = sequence
          state.changesSinceSnapshot += 1
        }
      }
      return sequence
    }
  }

  /// Reads the collection under the lock (searches, stats).
  public func read<Result>(_ body: (CollectionState) throws -> Result) rethrows -> Result {
    try state.read { try body($0.collection) }
  }

  /// The sequence number of the last applied change.
  public var sequence: UInt64 { state.read { $0.sequence } }

  /// Why the log refuses writes until a restart (an fsync or a cut-back failed), or nil.
  public var writeFailure: String? { log.failure }

  /// Changes since the last snapshot.
  public var changesSinceSnapshot: Int { state.read { $0.changesSinceSnapshot } }

  /// Writes a snapshot of everything committed and starts a fresh log segment.
  /// Writers wait only while the collection is copied (copy-on-write, cheap) and
  /// the segment rotates; the encoding and the file write run beside searches
  /// and writes. A change applied meanwhile copies the buffers it touches once.
  public func snapshot() throws {
    try snapshotting.withLock { _ in
      let (copy, sequence, changes) = try writer.withLock { _ in
        let (collection, sequence, changes) = state.read { ($0.collection.detached(), $0.sequence, $0.changesSinceSnapshot) }
        try log.rotate(after: sequence)
        return (collection, sequence, changes)
      }
      let payload = copy.encoded()
      try log.writeSnapshot(sequence: sequence, payload: payload)
      state.write { $0.changesSinceSnapshot -= changes }
      logger.info("snapshot written", metadata: ["sequence": "\(sequence)", "bytes": "\(payload.count)"])
      saveGraphs(of: copy, sequence: sequence)
    }
  }

  /// Saves the snapshot's HNSW graphs beside it; a failure costs only a rebuild at the next start.
  private func saveGraphs(of copy: CollectionState, sequence: UInt64) {
    let started = ContinuousClock.now
    do {
      let bytes = try GraphFile.write(copy, sequence: sequence, directory: directory)
      guard bytes > 0 else { return }
      logger.info("graphs saved", metadata: [
        "sequence": "\(sequence)", "bytes": "\(bytes)", "seconds": "\((ContinuousClock.now - started) / .seconds(1))",
      ])
    } catch {
      GraphFile.removeAll(in: directory, except: nil)
      logger.error("saving the graphs failed; the next start rebuilds them", metadata: ["error": "\(error)"])
    }
  }

  /// fsyncs the log if the interval policy is due.
  public func syncIfDue() throws { try log.syncIfDue() }

  /// fsyncs the log now.
  public func sync() throws { try log.sync() }
}
