import ArgumentParser
import BCTData
import BCTEvaluation
import BCTModelRepository
import BCTNumerics
import Foundation

/// `bct eval`: the query-model x gallery-model matrix and the compatibility criterion.
struct Eval: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Evaluate model versions against each other and check the compatibility criterion.",
    discussion: """
      The test split is both query set and gallery, self-match excluded. Prints top-1, \
      top-5 and mAP for every (query model, gallery model) pair, alignment and \
      uniformity per model, and whether M(Q2,D2) > M(Q2,D1) > M(Q1,D1) holds for \
      every version and each version it was trained to be compatible with. Records \
      the figures into the manifests unless --no-record. With --certify, every \
      version is (re-)certified against each older version of its lineage among \
      --models on the evaluation data (any IDX/npy files given, or --split \
      validation) and the certificates replace the earlier ones in its manifest.

      With --qrels, per-pair relevance instead (as text retrieval is judged): two \
      models' embeddings of the same items (--old-embeddings, --new-embeddings, row \
      for row, named by --ids), the query and document ids, and BEIR qrels. Prints \
      P@1, mAP, recall@10, MRR@10 and nDCG@10 of old queries on old documents, new \
      on old (equal widths), new on new, and, with --old and --new version folders \
      whose adapters connect them, the query-adapted and transformed-documents modes.
      """)

  @Option(help: "Comma-separated model version folders, oldest first.") var models: String = ""
  @OptionGroup var perPair: PerPairOptions
  @Flag(help: "Print one JSON object instead of tables.") var json = false
  @Flag(help: "Do not record the results into the manifests.") var noRecord = false
  @Option(help: "Evaluate on the first N test examples only.") var limit: Int?
  @Option(help: "Data to evaluate on: test (the test split or --test-images/--test-labels) or validation (the held-out part of the training data).")
  var split: String = "test"
  @Option(help: "With --split validation: the fraction held out (as bct train --val-fraction).") var valFraction: Double = 0.1
  @Option(help: "With --split validation: the seed of the held-out split (as bct train --val-seed).") var valSeed: UInt64 = 0
  @Flag(help: "Issue compatibility certificates on this data for every newer/older pair of a lineage and record them.")
  var certify = false
  @OptionGroup var certification: CertificationOptions
  @Option(help: "OpenBLAS threads (default: all cores).") var threads: Int?
  @OptionGroup var data: DataOptions

  func validate() throws {
    if perPair.qrels != nil { return }
    guard !folders.isEmpty else { throw ValidationError("--models needs at least one model folder (or give --qrels and its files)") }
    if let limit, limit < 2 { throw ValidationError("--limit must be at least 2") }
    guard ["test", "validation"].contains(split) else { throw ValidationError("--split must be test or validation") }
    guard valFraction > 0, valFraction <= 0.5 else { throw ValidationError("--val-fraction must be in (0, 0.5]") }
  }

  var folders: [String] { models.split(separator: ",").map(String.init).filter { !$0.isEmpty } }

  func run() async throws {
    AllocatorTuning.retainLargeBuffers()
    if let threads { BLAS.setThreadCount(threads) }
    if perPair.qrels != nil { return try perPair.run(json: json) }
    var versions: [ModelVersion] = []
    for folder in folders {
      let version = try ModelVersion.load(from: URL(fileURLWithPath: folder))
      if let clash = versions.first(where: { $0.version == version.version }) {
        throw ValidationError("two models are named \(clash.version); give each a unique name (bct train --version)")
      }
      versions.append(version)
    }
    var test = split == "test"
      ? try data.source.load(.test)
      : try data.source.load(.train).validationSplit(fraction: valFraction, seed: valSeed).validation
    if let limit, limit < test.count { test = test.subset(Array(0..<limit), name: "\(test.name)[:\(limit)]") }
    try Self.requireRelevance(test)
    if let mismatch = versions.first(where: { $0.backbone.inputShape != test.sampleShape }) {
      throw ValidationError("\(mismatch.version) takes inputs \(mismatch.backbone.inputShape) but the test data has \(test.sampleShape)")
    }
    let report = CompatibilityReport.evaluate(versions: versions, on: test)
    var certificateLines: [String] = []
    if certify {
      let description = split == "test"
        ? "evaluation data (\(test.name))"
        : CompatibilityCertifier.validationSplitDescription(fraction: valFraction, seed: valSeed)
      for (index, version) in versions.enumerated() {
        let olds = LineageScan.olderVersions(of: version, among: versions)
        guard !olds.isEmpty else { continue }
        let (certified, certificates) = CompatibilityCertifier.certified(
          version, against: olds, on: test, split: description, settings: certification.settings)
        for certificate in certificates {
          certificateLines += [certificate.summary(newVersion: version.version),
                               CertificationOptions.curveTable(certificate, newVersion: version.version)]
        }
        versions[index] = certified
      }
    }
    if !noRecord {
      for (folder, var version) in zip(folders, versions) {
        let records = report.records(for: version.version)
        version.manifest.evaluations.removeAll { old in
          records.contains { $0.queryVersion == old.queryVersion && $0.galleryVersion == old.galleryVersion && $0.dataset == old.dataset }
        }
        version.manifest.evaluations += records
        try version.manifest.encoded().write(to: URL(fileURLWithPath: folder).appendingPathComponent("manifest.json"), options: .atomic)
      }
    }
    if json {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
      print(String(decoding: try encoder.encode(report), as: UTF8.self))
    } else {
      print(Self.render(report))
    }
    if certify && !json {
      print(certificateLines.isEmpty ? "\nno two versions of one lineage among --models: nothing to certify" : "\nCertificates:\n" + certificateLines.joined(separator: "\n"))
    }
  }

  /// Throws when no two items of `data` share a label: nothing would be relevant to anything.
  static func requireRelevance(_ data: Dataset) throws {
    guard Set(data.labels).count < data.count else {
      throw ValidationError("no two of the \(data.count) evaluation items (\(data.name)) share a label, so no document is relevant to any query; evaluate on data where classes repeat")
    }
  }

  static func render(_ report: CompatibilityReport) -> String {
    func pct(_ x: Double) -> String { String(format: "%5.1f", x * 100) }
    let width = max(8, report.models.map(\.version.count).max() ?? 0)
    func pad(_ s: String) -> String { s.padding(toLength: width, withPad: " ", startingAt: 0) }
    var lines = ["Retrieval on \(report.dataset) (test split as queries and gallery, self-match excluded), in %:", ""]
    lines.append("\(pad("query"))  \(pad("gallery"))  top-1  top-5    mAP")
    for cell in report.matrix {
      lines.append("\(pad(cell.query))  \(pad(cell.gallery))  \(pct(cell.top1))  \(pct(cell.top5))  \(pct(cell.mAP))")
    }
    lines += ["", "\(pad("model"))  arch  objective    parent    alignment  uniformity"]
    for m in report.models {
      lines.append("\(pad(m.version))  \(m.architecture.padding(toLength: 4, withPad: " ", startingAt: 0))  \(m.compatibilityObjective.padding(toLength: 11, withPad: " ", startingAt: 0))  \((m.parentVersion ?? "-").padding(toLength: 8, withPad: " ", startingAt: 0))  \(String(format: "%9.3f", m.alignment))  \(String(format: "%10.3f", m.uniformity))")
    }
    lines += ["", "Compatibility criterion M(Q2,D2) > M(Q2,D1) > M(Q1,D1):"]
    if report.criterion.pairs.isEmpty {
      lines.append("  no pair of these versions was trained to be compatible")
    }
    for p in report.criterion.pairs {
      lines.append("  \(p.new) vs \(p.old): top-1 \(pct(p.top1[0])) -> \(pct(p.top1[1])) -> \(pct(p.top1[2]))   mAP \(pct(p.mAP[0])) -> \(pct(p.mAP[1])) -> \(pct(p.mAP[2]))   \(p.holds ? "holds" : "FAILS")")
      lines.append("  \(String(repeating: " ", count: p.new.count + p.old.count + 4))  cross-model gain: top-1 \(String(format: "%+.1f", (p.top1[1] - p.top1[0]) * 100)), mAP \(String(format: "%+.1f", (p.mAP[1] - p.mAP[0]) * 100)) points")
    }
    let holding = report.criterion.pairs.filter(\.holds).map { "\($0.new) vs \($0.old)" }
    let failing = report.criterion.pairs.filter { !$0.holds }.map { "\($0.new) vs \($0.old)" }
    if report.criterion.holds {
      lines.append("criterion: holds for every pair")
    } else {
      lines.append("criterion: holds for \(holding.isEmpty ? "no pair" : holding.joined(separator: ", ")); fails for \(failing.joined(separator: ", "))")
    }
    return lines.joined(separator: "\n")
  }
}
