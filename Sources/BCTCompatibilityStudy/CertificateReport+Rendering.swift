import BCTEvaluation
import BCTModelRepository
import Foundation

extension CertificateReport {
  /// The certificate section of the matrix report.
  func rendered() -> [String] {
    let study = report.certification
    let threshold = String(format: "%g", study.powerThresholdPoints)
    var lines = ["", "Certificates with confidence bounds (\(CriterionBootstrap.method), \(study.resamples) resamples, seed \(study.seed)): certified when every step's lower bound exceeds the margin."]
    lines.append("Validation side: certify on half A of the validation split (bounds projected to half B's size), check on half B. false = certified but the criterion fails on half B; power = certified share of the pairs holding on half B by >= \(threshold) point on every step.")
    lines += grid(validationSide: true)
    if let chosen {
      let falseCount = outcome(confidence: chosen.confidence, margin: chosen.margin, methods: nil, validationSide: true).falseCertificates
      lines.append(String(
        format: "Chosen on the validation side (fewest false certificates over all methods, then the highest power of %@'s upgrade paths, then of all methods, then 95%%/0.5 point where nothing separates them): confidence %g, margin %g point",
        study.defaultMethod, chosen.confidence, chosen.margin)
        + (falseCount.isEmpty ? "." : "; even it certifies \(falseCount.count) pair(s) that fail on half B: \(falseCount.joined(separator: ", "))."))
    }
    lines.append("")
    lines.append("Test split (report only): certificates on the whole validation split, bounds projected to the test split's size; false = certified but the criterion fails on test; power over the pairs holding on test by >= \(threshold) point on every step.")
    if let chosen {
      lines.append(String(format: "At the chosen setting (confidence %g, margin %g):", chosen.confidence, chosen.margin))
      lines.append("method                 certified  power          false certificates")
      for method in report.methodNames + ["all"] {
        let o = outcome(confidence: chosen.confidence, margin: chosen.margin, methods: method == "all" ? nil : [method], validationSide: false)
        lines.append(method.padding(toLength: 23, withPad: " ", startingAt: 0)
          + "\(o.certified)/\(o.pairs)".padding(toLength: 11, withPad: " ", startingAt: 0)
          + Self.power(o).padding(toLength: 15, withPad: " ", startingAt: 0)
          + (o.falseCertificates.isEmpty ? "none" : o.falseCertificates.joined(separator: ", ")))
      }
      let base = study.defaultMethod
      let paths = pathOutcome(confidence: chosen.confidence, margin: chosen.margin, base: base, validationSide: false)
      lines.append("\(base) upgrade paths (per old/new pair: certified when any of \(base), \(base)+query, \(base)+transform in this report is):")
      lines.append("paths".padding(toLength: 23, withPad: " ", startingAt: 0)
        + "\(paths.certified)/\(paths.pairs)".padding(toLength: 11, withPad: " ", startingAt: 0)
        + Self.power(paths).padding(toLength: 15, withPad: " ", startingAt: 0)
        + (paths.falseCertificates.isEmpty ? "none" : paths.falseCertificates.joined(separator: ", ")))
    }
    lines.append("Every setting on test:")
    lines += grid(validationSide: false)
    lines += coverage()
    return lines
  }

  /// One row per (confidence, margin): certified, false certificates, power of the
  /// default method's upgrade paths and of all methods.
  private func grid(validationSide: Bool) -> [String] {
    let method = report.certification.defaultMethod
    var lines = ["  confidence  margin  certified  false  power \((method + " paths").padding(toLength: 14, withPad: " ", startingAt: 0))power all"]
    for s in settings {
      let all = outcome(confidence: s.confidence, margin: s.margin, methods: nil, validationSide: validationSide)
      let mine = pathOutcome(confidence: s.confidence, margin: s.margin, base: method, validationSide: validationSide)
      lines.append(String(format: "  %10.3f  %6.2f  ", s.confidence, s.margin)
        + "\(all.certified)/\(all.pairs)".padding(toLength: 11, withPad: " ", startingAt: 0)
        + "\(all.falseCertificates.count)".padding(toLength: 7, withPad: " ", startingAt: 0)
        + Self.power(mine).padding(toLength: 20, withPad: " ", startingAt: 0) + Self.power(all))
    }
    return lines
  }

  /// "3/5 (0.60)", or "-/0" without eligible pairs.
  static func power(_ o: Outcome) -> String {
    o.power.map { String(format: "%d/%d (%.2f)", o.eligibleCertified, o.eligible, $0) } ?? "-/0"
  }

  /// Per step: how often the test gain is at least the lower bound (its one-sided
  /// coverage on real pairs), and how far the projection was from the test gain.
  private func coverage() -> [String] {
    var lines = [""]
    let confidence = report.certifications.first.map { String(format: "%g", $0.bounds.confidence * 100) } ?? "?"
    lines.append("Bounds against the test split (\(confidence)% bounds on the whole validation split, projected to the test size), per step:")
    lines.append("  step                  test gain >= bound   mean test gain - projection   mean test gain - estimate")
    for (s, name) in CertificateBounds.requiredSteps.enumerated() {
      var covered = 0
      var total = 0
      var projectionError = 0.0
      var estimateError = 0.0
      for record in report.certifications {
        guard let test = testCheck(record.pair), s < record.bounds.steps.count else { continue }
        let step = record.bounds.steps[s]
        total += 1
        if test.gains[s] >= step.lowerBoundPoints { covered += 1 }
        projectionError += test.gains[s] - step.projectedPoints
        estimateError += test.gains[s] - step.estimatePoints
      }
      guard total > 0 else { continue }
      lines.append("  " + name.padding(toLength: 22, withPad: " ", startingAt: 0)
        + String(format: "%4d/%-4d (%5.1f%%)     %+8.2f points               %+8.2f points",
                 covered, total, Double(covered) / Double(total) * 100, projectionError / Double(total),
                 estimateError / Double(total)))
    }
    return lines
  }
}
