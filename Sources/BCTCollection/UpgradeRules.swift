/// The rules of moving a collection to another version, in one place: which
/// documents still need a target vector, which versions a write carries during a
/// shadow upgrade, and which upgrade steps the collection's state allows. Both
/// stores, intake and the backfiller call them; each decision reads a
/// `CollectionView` and returns the mutations to log.
public enum UpgradeRules {
  /// Whether a document whose searched vector is of `version` (nil: no such
  /// document) and whose other copy's vector is of `counterpart` still needs a
  /// vector of the plan's target: in the shadow copy for a shadow backfill, in the
  /// searched copy in place.
  public static func needsTarget(version: String?, counterpart: String?, plan: BackfillPlan) -> Bool {
    guard let version else { return false }
    return plan.shadow ? counterpart != plan.target : version != plan.target
  }

  /// The searched versions whose documents a backfill reads: all of them for a
  /// shadow backfill, all but the target in place.
  public static func sourceVersions(_ plan: BackfillPlan, searched: [String]) -> [String] {
    plan.shadow ? searched : searched.filter { $0 != plan.target }
  }

  /// The versions a raw write is embedded with: the searched side, and during a
  /// shadow upgrade the other side too. `requested` is the upsert's model version
  /// ("" for none), `fallback` the encoder's default.
  public static func writeVersions(
    _ view: CollectionView, requested: String, fallback: String
  ) throws(RetrievalError) -> (searched: String, other: String?) {
    guard let shadow = view.shadow else {
      return (requested.isEmpty ? (view.documentVersion ?? fallback) : requested, nil)
    }
    guard let previous = shadow.switched ? shadow.previousDocumentVersion : view.documentVersion else {
      throw .shadowWithoutDocumentVersion(target: shadow.target)
    }
    let (searched, other) = shadow.switched ? (shadow.target, previous) : (previous, shadow.target)
    guard requested.isEmpty || requested == searched else {
      throw .shadowFixesVersions(target: shadow.target, searched: searched, other: other, requested: requested)
    }
    return (searched, other)
  }

  /// What a backfill to `plan.target` logs: it joins or resumes the backfill in
  /// progress to the same target, else starts one in the mode the policy allows
  /// (in place when certified against every version searched, shadow otherwise).
  /// `plan` carries the batch size and rate; `graceSeconds` is kept after a switch.
  /// The view must count documents without raw input (`withoutInputOutside: ""`),
  /// which a shadow backfill that re-embeds (`needsInputs`) cannot move.
  public static func start(
    _ plan: BackfillPlan, requested: UpgradeMode?, graceSeconds: Double, view: CollectionView, policy: VersionPolicy,
    needsInputs: Bool = true
  ) throws(RetrievalError) -> (mutations: [Mutation], mode: UpgradeMode, reason: String) {
    let target = plan.target
    var shadowPlan = plan
    shadowPlan.shadow = true
    if let shadow = view.shadow {
      guard shadow.target == target else { throw .shadowInProgress(target: shadow.target, switched: shadow.switched) }
      guard !shadow.switched else { throw .alreadySwitched(target: target) }
      return (view.backfill == nil ? [.setBackfill(shadowPlan)] : [], .shadow, "")
    }
    if let current = view.backfill {
      guard current.target == target else { throw .backfillRunning(target: current.target) }
      return ([], current.shadow ? .shadow : .inPlace, "")
    }
    let (mode, reason) = try policy.upgradeMode(to: target, from: view.searched, requested: requested)
    if mode == .inPlace {
      var inPlace = plan
      inPlace.shadow = false
      return ([.setBackfill(inPlace)], mode, reason)
    }
    guard !needsInputs || view.withoutInput == 0 else { throw .inputsMissing(target: target, documents: view.withoutInput) }
    let upgrade = ShadowUpgrade(
      target: target, previousVersions: view.searched, previousDocumentVersion: view.documentVersion,
      graceSeconds: graceSeconds, reason: reason)
    return ([.startShadow(upgrade, shadowPlan)], mode, reason)
  }

  /// Dropping the previous copy of a switched shadow upgrade. The view must count
  /// sizes (`sizes: true`) for the refusal's figures.
  public static func finalize(_ view: CollectionView) throws(RetrievalError) -> [Mutation] {
    guard let shadow = view.shadow else { throw .noShadowToFinalize }
    guard shadow.switched else {
      throw .notSwitched(target: shadow.target, done: view.targetCopyCount, total: view.documentCount)
    }
    return [.finalizeShadow]
  }

  /// Abandoning the shadow upgrade in progress; returns its target too.
  public static func rollback(_ view: CollectionView) throws(RetrievalError) -> (mutations: [Mutation], target: String) {
    guard let shadow = view.shadow else { throw .noShadowToRollBack }
    return ([.rollbackShadow], shadow.target)
  }

  /// The switch that ends `plan`'s shadow backfill, when `plan` is still the one in
  /// progress and no document needs its target vector (the view must ask
  /// `pendingFor: plan`); nil when the state moved on.
  public static func switchShadow(_ plan: BackfillPlan, view: CollectionView, at time: Double) -> [Mutation]? {
    guard view.backfill == plan, let upgrade = view.shadow, !upgrade.switched, !view.pending else { return nil }
    return [.switchShadow(at: time)]
  }

  /// Whether the grace period of a switched upgrade is over at `time`.
  public static func graceEnded(_ upgrade: ShadowUpgrade, at time: Double) -> Bool {
    guard let switched = upgrade.switchedAt else { return false }
    return time >= switched + upgrade.graceSeconds
  }
}
