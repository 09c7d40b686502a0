import ArgumentParser
import BCTEvaluation
import BCTModelRepository
import Foundation

/// How `bct train` and `bct eval --certify` judge compatibility: the margin, and
/// the confidence bounds the verdict rests on.
struct CertificationOptions: ParsableArguments {
  @Option(help: "Margin, in points, that every step's lower confidence bound must exceed to certify.")
  var margin: Double = CompatibilityCertifier.defaultMarginPoints
  @Option(help: "One-sided confidence level of each step's lower bound, 0.5-0.999.")
  var confidence: Double = CompatibilityCertifier.defaultConfidence
  @Option(help: "Bootstrap resamples behind the bounds, 100-100000.")
  var resamples: Int = CompatibilityCertifier.defaultResamples
  @Option(help: "Seed of the bootstrap and of the gallery-size curve's draws (same seed, same bounds).")
  var certificateSeed: UInt64 = 0
  @Option(help: "Documents in the catalogue the certificate will serve; bounds are projected to it along the gallery-size curve (default \(CompatibilityCertifier.defaultCatalogueSize)).")
  var catalogueSize: Int?

  var settings: CompatibilityCertifier.Settings {
    .init(marginPoints: margin, confidence: confidence, resamples: resamples, seed: certificateSeed,
          catalogueSize: catalogueSize)
  }

  func validate() throws {
    if let problem = settings.problem { throw ValidationError(problem) }
  }

  /// The gallery-size curve of `certificate` as a table.
  static func curveTable(_ certificate: CompatibilityCertificate, newVersion: String) -> String {
    guard let bounds = certificate.bounds else { return "" }
    var lines = bounds.galleryCurve.isEmpty ? [] : [
      "  \(newVersion) vs \(certificate.oldVersion), gallery-size curve (all queries, %; gains in points):",
      "    documents   top-1 Q1D1  Q2D1  Q2D2  cross  backfill   mAP Q1D1  Q2D1  Q2D2  cross  backfill"]
    for point in bounds.galleryCurve {
      let (t, m) = (point.top1, point.meanAveragePrecision)
      lines.append(String(
        format: "    %9d   %10.1f %5.1f %5.1f %+6.2f %+9.2f   %8.1f %5.1f %5.1f %+6.2f %+9.2f", point.gallerySize,
        t.oldOld * 100, t.newOld * 100, t.newNew * 100, t.crossGainPoints, t.backfillGainPoints,
        m.oldOld * 100, m.newOld * 100, m.newNew * 100, m.crossGainPoints, m.backfillGainPoints))
    }
    if let hubs = bounds.hubDesignEffect {
      lines.append(String(format: "    hub design effect %.1f: new queries crowd onto few old documents %.1fx as much as the same-model searches; top-1 spreads widened x%.2f", hubs, hubs, hubs.squareRoot()))
    }
    lines.append("    step                 estimate  per doubling  at \(bounds.catalogueSize) docs  lower bound")
    for step in bounds.steps {
      lines.append("    " + step.name.padding(toLength: 20, withPad: " ", startingAt: 0) + String(
        format: " %+8.2f  %+12.2f  %+14.2f  %+11.2f", step.estimatePoints, step.slopePointsPerDoubling,
        step.projectedPoints, step.lowerBoundPoints))
    }
    return lines.joined(separator: "\n")
  }
}
