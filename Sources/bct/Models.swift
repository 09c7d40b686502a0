import ArgumentParser
import BCTClient
import BCTProto
import Foundation

/// `bct models`: the versions the encoder hosts.
struct Models: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "List the model versions the encoder hosts.")
  @OptionGroup var connection: ConnectionOptions

  func run() async throws {
    try await connection.traced("models") {
      let listing = try await connection.withEncoder { try await $0.listModels(timeout: connection.timeout) }
      if connection.json {
        try printJSON(["default_version": listing.defaultVersion, "models": listing.models.map { m in
          ["version": m.version, "architecture": m.architecture, "embedding_dim": Int(m.embeddingDim),
           "input_shape": m.inputShape.map(Int.init), "kind": m.kind == .external ? "external" : "trained", "lineage": m.lineage, "parent_version": m.parentVersion,
           "compatible_with": m.compatibleWith, "head_fingerprint": m.headFingerprint, "is_default": m.isDefault,
           "objective": m.training.compatibilityObjective,
           "compatibility": m.compatibility.mapValues(relationName),
           "certificates": m.certificates.map { c in
             ["old_version": c.oldVersion, "verdict": c.verdict == .certified ? "certified" : "uncertified",
              "top1": [c.top1.oldOld, c.top1.newOld, c.top1.newNew],
              "mean_average_precision": [c.meanAveragePrecision.oldOld, c.meanAveragePrecision.newOld, c.meanAveragePrecision.newNew],
              "margin_points": c.marginPoints, "split": c.split, "examples": Int(c.examples), "reasons": c.reasons,
              "bounds": c.hasBounds ? boundsJSON(c.bounds) : NSNull()] as [String: Any]
           },
           "adapters": m.adapters.map(adapterJSON),
           "certified_modes": m.certifiedModes.mapValues { $0.modes.map(modeName) }] as [String: Any]
        }])
        return
      }
      print("\(column("version", 16)) \(column("arch", 5)) \(column("dim", 4)) \(column("lineage", 13)) \(column("parent", 10)) certified with")
      for m in listing.models {
        print("\(column(m.version + (m.isDefault ? "*" : ""), 16)) \(column(m.architecture, 5)) \(column("\(m.embeddingDim)", 4)) \(column(String(m.lineage.prefix(12)), 13)) \(column(m.parentVersion.isEmpty ? "-" : m.parentVersion, 10)) \(m.compatibleWith.isEmpty ? "-" : m.compatibleWith.joined(separator: ", "))")
      }
      print("* default version")
      let certificates = listing.models.flatMap { m in m.certificates.map { (m.version, $0) } }
      if !certificates.isEmpty { print("\ncertificates (top-1 and mAP: old/old -> new/old -> new/new, %):") }
      for (version, c) in certificates {
        func p(_ f: Bct_V1_CriterionFigures) -> String { String(format: "%.1f -> %.1f -> %.1f", f.oldOld * 100, f.newOld * 100, f.newNew * 100) }
        print("  \(version) vs \(c.oldVersion): \(c.verdict == .certified ? "certified" : "NOT certified")  top-1 \(p(c.top1))  mAP \(p(c.meanAveragePrecision))  (\(c.examples) examples, \(c.split))")
        print("    " + (c.hasBounds ? boundsText(c.bounds, margin: c.marginPoints) : "no confidence bounds"))
        for reason in c.reasons { print("    - \(reason)") }
      }
      printAdapters(listing.models)
    }
  }

  /// Each version's adapters (mode, kind, widths, verdict, usable) and its certified modes with each other version.
  private func printAdapters(_ models: [Bct_V1_ModelInfo]) {
    guard models.contains(where: { !$0.adapters.isEmpty }) else { return }
    print("\nadapters (B's query adapter P: B -> A, document transform T: A -> B):")
    for m in models {
      for a in m.adapters {
        let verdict = a.certificate.verdict == .certified ? "certified" : "NOT certified"
        print("  \(m.version) -> \(a.oldVersion) \(modeName(a.mode)): \(a.kind) \(a.inputDim)->\(a.outputDim), \(verdict), "
          + (a.usable ? "usable" : "not usable: \(a.problem)"))
      }
      for (old, modes) in m.certifiedModes.sorted(by: { $0.key < $1.key }) where !modes.modes.isEmpty {
        print("  \(m.version) with \(old): certified and usable modes \(modes.modes.map(modeName).joined(separator: ", "))")
      }
    }
  }
}

/// An adapter as JSON.
func adapterJSON(_ a: Bct_V1_AdapterInfo) -> [String: Any] {
  ["old_version": a.oldVersion, "mode": modeName(a.mode), "kind": a.kind, "input_dim": Int(a.inputDim),
   "output_dim": Int(a.outputDim), "verdict": a.certificate.verdict == .certified ? "certified" : "uncertified",
   "usable": a.usable, "problem": a.problem, "file_sha256": a.fileSha256]
}

/// A search mode as text.
func modeName(_ mode: Bct_V1_SearchMode) -> String {
  switch mode {
  case .native: return "native"
  case .queryAdapted: return "query-adapted"
  case .transformedDocuments: return "transformed documents"
  default: return "unknown"
  }
}

/// A certificate's bounds as JSON.
func boundsJSON(_ b: Bct_V1_CertificateBounds) -> [String: Any] {
  ["method": b.method, "resamples": Int(b.resamples), "confidence": b.confidence, "seed": Int(b.seed),
   "catalogue_size": Int(b.catalogueSize), "hub_design_effect": b.hubDesignEffect,
   "steps": b.steps.map { s in
     ["metric": s.metric, "step": s.step, "estimate_points": s.estimatePoints, "projected_points": s.projectedPoints,
      "lower_bound_points": s.lowerBoundPoints, "slope_points_per_doubling": s.slopePointsPerDoubling] as [String: Any]
   },
   "gallery_curve": b.galleryCurve.map { p in
     ["gallery_size": Int(p.gallerySize), "top1": [p.top1.oldOld, p.top1.newOld, p.top1.newNew],
      "mean_average_precision": [p.meanAveragePrecision.oldOld, p.meanAveragePrecision.newOld, p.meanAveragePrecision.newNew]] as [String: Any]
   }]
}

/// "lower bounds (95%, ...): top-1 cross +0.81 (estimate +1.20), ..." on one line.
func boundsText(_ b: Bct_V1_CertificateBounds, margin: Double) -> String {
  let steps = b.steps.map { String(format: "%@ %@ %+.2f (estimate %+.2f)", $0.metric, $0.step, $0.lowerBoundPoints, $0.estimatePoints) }
  return String(format: "lower bounds at %g%%, must exceed %.2f: ", b.confidence * 100, margin) + steps.joined(separator: ", ")
    + " [\(b.method), \(b.resamples) resamples, seed \(b.seed), projected to \(b.catalogueSize) documents"
    + (b.hubDesignEffect > 0 ? String(format: ", hub design effect %.1f]", b.hubDesignEffect) : "]")
}

/// A pair relation as text.
func relationName(_ relation: Bct_V1_PairCompatibility) -> String {
  switch relation {
  case .certified: return "certified"
  case .uncertified: return "uncertified"
  case .incompatible: return "incompatible"
  default: return "unknown"
  }
}
