import ArgumentParser
import BCTAdapterFitting
import BCTAdapters
import BCTData
import BCTEvaluation
import BCTModelRepository
import BCTNumerics
import Foundation

/// `bct adapt`: fit the query adapter and the document transform between two
/// versions and certify the search mode each serves.
struct Adapt: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Fit adapters between an old and a new version and certify each search mode.",
    discussion: """
      Embeds the training data (less the validation split the new version was \
      certified on) with both versions and fits, for each direction, an orthogonal \
      Procrustes map, ridge affine maps and a residual MLP trained with InfoNCE; the \
      kind and setting are chosen on a selection split carved from the training data, \
      and the pick is refitted on all of it. Each mode (query-adapted: P(new) queries \
      on old documents; transformed documents: new queries on T(old) documents) is \
      then certified on the validation split with the same bounded rule as bct train. \
      Adapters are written into the new version's folder and described in its \
      manifest, tied to the sha256 of both versions' weights. The versions need not \
      share a lineage.

      With --old-embeddings, --new-embeddings and --labels, the two models ran \
      elsewhere: the files hold the same items embedded by each (row i of both is \
      item i). --old and --new are then external version folders (kind: external, no \
      backbone), created when missing; --val-fraction of the rows (default 0.2) is \
      held out to certify on, and the adapters are fitted on the rest.
      """)

  @Option(help: "Old version folder (A).") var old: String
  @Option(help: "New version folder (B); the adapters are written here.") var new: String
  @Option(help: "A's embeddings of the calibration items (.npy, [rows, width]); makes both versions external.")
  var oldEmbeddings: String?
  @Option(help: "B's embeddings of the same items, row for row (.npy).") var newEmbeddings: String?
  @Option(help: "Class of each item (.npy, [rows]): items of one class are relevant to each other.") var labels: String?
  @Option(help: "Per-pair relevance instead of --labels: the id of each embedding row, one per line.") var ids: String?
  @Option(help: "With --ids: the ids of the query items, one per line.") var queries: String?
  @Option(help: "With --ids: the ids of the document items, one per line.") var documents: String?
  @Option(help: "With --ids: judgments, one per line: query id, document id, grade (BEIR qrels; a header line is skipped).")
  var qrels: String?
  @Option(help: "Description of A, when its external version is created.") var oldDescription: String?
  @Option(help: "Description of B, when its external version is created.") var newDescription: String?
  @Option(help: "Directions: query (P: new -> old), document (T: old -> new), or both.") var directions = "query,document"
  @Option(help: "Adapter kinds to choose among: procrustes, affine, mlp.") var kinds = "procrustes,affine,mlp"
  @Option(help: "Seed of the selection split and of the MLP's training.") var fitSeed: UInt64 = 0
  @Option(help: "Validation split to certify on: fraction of the training data (default: the new version's, from its manifest).")
  var valFraction: Double?
  @Option(help: "Seed of that split (default: the new version's).") var valSeed: UInt64?
  @OptionGroup var certification: CertificationOptions
  @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?
  @OptionGroup var data: DataOptions

  func validate() throws {
    let embeddings = [oldEmbeddings, newEmbeddings].compactMap { $0 }
    let perPair = [ids, queries, documents, qrels].compactMap { $0 }
    guard embeddings.isEmpty || embeddings.count == 2 else { throw ValidationError("--old-embeddings and --new-embeddings go together") }
    guard perPair.isEmpty || perPair.count == 4 else { throw ValidationError("--ids, --queries, --documents and --qrels go together") }
    guard embeddings.isEmpty == (labels == nil && perPair.isEmpty), labels == nil || perPair.isEmpty else {
      throw ValidationError("with --old-embeddings and --new-embeddings, give either --labels or --ids/--queries/--documents/--qrels (and neither without them)")
    }
    guard URL(fileURLWithPath: old).standardizedFileURL != URL(fileURLWithPath: new).standardizedFileURL else {
      throw ValidationError("--old and --new are the same folder: adapters connect two different versions")
    }
    _ = try parsedDirections()
    _ = try parsedKinds()
    if let valFraction, !(valFraction > 0 && valFraction <= 0.5) { throw ValidationError("--val-fraction must be in (0, 0.5]") }
  }

  func parsedDirections() throws -> [AdapterDirection] {
    let list = directions.split(separator: ",").map { String($0) }
    let parsed = list.compactMap(AdapterDirection.init(rawValue:))
    guard parsed.count == list.count, !parsed.isEmpty else { throw ValidationError("--directions takes query, document or both") }
    return Array(Set(parsed)).sorted { $0.rawValue > $1.rawValue }
  }

  func parsedKinds() throws -> [AdapterKind] {
    let list = kinds.split(separator: ",").map { String($0) }
    let parsed = list.compactMap(AdapterKind.init(rawValue:))
    guard parsed.count == list.count, !parsed.isEmpty else { throw ValidationError("--kinds takes procrustes, affine and mlp") }
    return parsed
  }

  func run() async throws {
    AllocatorTuning.retainLargeBuffers()
    if let threads { BLAS.setThreadCount(threads) }
    let pair = try oldEmbeddings == nil ? trainedPair() : externalPair()
    let started = Date()
    print(try pair.fitAndInstall(
      directions: try parsedDirections(), kinds: try parsedKinds(), fitSeed: fitSeed, settings: certification.settings,
      into: URL(fileURLWithPath: new)))
    print(String(format: "fitted and checked in %.1f s (verdicts above); adapters written to %@", Date().timeIntervalSince(started), new))
  }

  /// Two trained versions, embedding the training data (less the validation split) themselves.
  func trainedPair() throws -> AdaptationPair {
    let oldVersion = try ModelVersion.load(from: URL(fileURLWithPath: old))
    let newVersion = try ModelVersion.load(from: URL(fileURLWithPath: new))
    guard let fraction = valFraction ?? newVersion.manifest.training.validation?.fraction else {
      throw ValidationError("\(newVersion.version) was trained without a validation split; give --val-fraction (and --val-seed) to hold one out")
    }
    let seed = valSeed ?? newVersion.manifest.training.validation?.seed ?? 0
    let (calibration, held) = try data.source.load(.train).validationSplit(fraction: fraction, seed: seed)
    return try AdaptationPair.trained(
      old: oldVersion, new: newVersion, calibration: calibration, held: held,
      split: CompatibilityCertifier.validationSplitDescription(fraction: fraction, seed: seed))
  }

  /// Two external versions (created when missing) and their embeddings from files.
  func externalPair() throws -> AdaptationPair {
    guard let oldEmbeddings, let newEmbeddings else { throw ValidationError("--old-embeddings and --new-embeddings go together") }
    let (fraction, seed) = (valFraction ?? 0.2, valSeed ?? 0)
    let calibration: PairAdaptation.Embeddings
    let validation: AdaptationPair.Validation
    let pairs: EmbeddingPairs
    var split = String(format: "validation split (%g%% of the rows, seed %llu)", fraction * 100, seed)
    if let ids, let queries, let documents, let qrels {
      let judged = try QrelsPairs.read(old: oldEmbeddings, new: newEmbeddings, ids: ids, queries: queries, documents: documents, qrels: qrels)
      if judged.ignoredJudgments > 0 {
        print("\(judged.ignoredJudgments) judgments in \(qrels) name an id outside --queries/--documents; left out")
      }
      let parts = judged.split(fraction: fraction, seed: seed)
      (pairs, calibration, validation) = (judged.pairs, parts.calibration, .qrels(parts.validation))
      split = String(format: "validation split (%g%% of the judged queries with their documents, seed %llu)", fraction * 100, seed)
    } else {
      pairs = try EmbeddingPairs.read(old: oldEmbeddings, new: newEmbeddings, labels: labels)
      let parts = pairs.split(fraction: fraction, seed: seed)
      (calibration, validation) = (parts.calibration, .classes(parts.validation))
    }
    let oldVersion = try ExternalVersion.loadOrCreate(
      in: URL(fileURLWithPath: old), embeddingDim: pairs.old.columns, description: oldDescription, fingerprint: nil,
      calibration: pairs.old.values)
    let newVersion = try ExternalVersion.loadOrCreate(
      in: URL(fileURLWithPath: new), embeddingDim: pairs.new.columns, description: newDescription, fingerprint: nil,
      calibration: pairs.new.values)
    return AdaptationPair(
      old: .external(oldVersion), new: .external(newVersion), calibration: calibration, validation: validation,
      dataset: URL(fileURLWithPath: newEmbeddings).lastPathComponent, split: split,
      calibrationDescription: "\(oldEmbeddings) / \(newEmbeddings) less the \(split)")
  }
}

/// The text `bct adapt` prints: each direction's candidates, the pick, and its mode's certificate.
enum AdaptReport {
  static func render(_ fitted: [PairAdaptation.Fitted], old: String, new: String, calibrationExamples: Int) -> String {
    var lines: [String] = []
    for item in fitted {
      let arrow = item.direction == .query ? "\(new) -> \(old) (query adapter P)" : "\(old) -> \(new) (document transform T)"
      lines.append("\(arrow), fitted on \(calibrationExamples) calibration pairs; selection split, cross-model %:")
      lines.append("    kind        setting                                     top-1    mAP")
      for c in item.outcome.candidates {
        let mark = c == item.outcome.chosen ? " <- chosen" : ""
        lines.append("    " + c.kind.padding(toLength: 10, withPad: " ", startingAt: 0) + "  "
          + c.setting.padding(toLength: max(42, c.setting.count), withPad: " ", startingAt: 0)
          + String(format: "  %5.1f  %5.1f", c.top1 * 100, c.meanAveragePrecision * 100) + mark)
      }
      let mode = item.direction == .query ? "query-adapted" : "transformed documents"
      lines.append("  mode \(mode): " + item.certificate.summary(newVersion: new))
      lines.append(CertificationOptions.curveTable(item.certificate, newVersion: new))
    }
    return lines.joined(separator: "\n")
  }
}
