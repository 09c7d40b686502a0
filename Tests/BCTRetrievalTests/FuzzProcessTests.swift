import BCTClient
import BCTFuzzing
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import Testing

/// The schema fuzzer's bounded run against the real services (fixed seed).
@Suite("Schema fuzzing of both services", .serialized)
struct FuzzProcessTests {
  /// Seconds of fuzzing in the test command; `bct-bench fuzz` runs longer campaigns.
  static let seconds = Double(ProcessInfo.processInfo.environment["BCT_FUZZ_SECONDS"] ?? "") ?? 60
  static let minimumCases = 600

  @Test("schema-generated requests for every RPC: no UNKNOWN or INTERNAL status, no process death, health stays SERVING", arguments: StoreKind.allCases)
  func boundedRun(store: StoreKind) async throws {
    try await store.with { storeArguments in try await boundedRun(storeArguments) }
  }

  func boundedRun(_ storeArguments: [String]) async throws {
    let encoder = try await Fixtures.startEncoder(try await UpgradeProcessTests.repository())
    defer { Task { await encoder.kill9() } }
    let retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-fuzz"), extra: ["--snapshot-changes", "50"] + storeArguments)
    // Some documents first, so that searches, deletes and backfills reach past validation.
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: retrieval.port)) { connection in
      _ = try await RetrievalClient(connection).upsert(RetrievalProcessTests.upsertRequest(0..<100, version: "v1"))
    }
    let campaign = FuzzCampaign(seed: 20_261_123, versions: ["v1", "v2", "v3", "x1"])
    // The default run sends a fixed number of cases (a loaded CI machine checks as many
    // as a quiet one) within at most 8 minutes (a fresh-clone run on a loaded 2-core machine sent 319-409 cases in 4); BCT_FUZZ_SECONDS above 60 runs a longer campaign.
    let long = Self.seconds > 60
    let (cases, seconds) = long ? (1_000_000, Self.seconds) : (Self.minimumCases, 480)
    let report = try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: encoder.port)) { encoderClient in
      try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: retrieval.port)) { retrievalClient in
        await campaign.run(
          cases: 0..<cases, until: .now + .seconds(seconds), concurrency: 4, encoder: encoderClient,
          retrieval: retrievalClient, alive: { encoder.isRunning && retrieval.isRunning })
      }
    }
    print("fuzz: \(report.cases) cases; statuses \(report.codes.sorted { $0.key < $1.key })")
    #expect(report.cases >= Self.minimumCases, "the run sent \(report.cases) cases")
    #expect(report.failures.isEmpty, "\(report.failures.prefix(5).map(\.description).joined(separator: "\n"))\n\(retrieval.logTail)\n\(encoder.logTail)")
    #expect(report.codes["ok", default: 0] > 0 && report.codes.count >= 3, "the generator reaches valid and invalid requests alike")
    #expect(await retrieval.terminate() == 0)
  }

  @Test("fuzzing in three states: after an in-place backfill emptied a segment, during a shadow upgrade, and with a version gone from the encoder")
  func statefulRun() async throws {
    let repository = Fixtures.temporaryFolder("bct-fuzz-repo")
    for version in ["v1", "v2", "v3"] {
      try FileManager.default.copyItem(
        at: try await UpgradeProcessTests.repository().appendingPathComponent(version), to: repository.appendingPathComponent(version))
    }
    let encoder = try await Fixtures.startEncoder(repository, extra: ["--reload-interval", "1"])
    defer { Task { await encoder.kill9() } }
    let retrieval = try await Fixtures.startRetrieval(
      encoderPort: encoder.port, dataDirectory: Fixtures.temporaryFolder("bct-fuzz-state"), extra: ["--snapshot-changes", "50"])
    let campaign = FuzzCampaign(seed: 20_261_203, versions: ["v1", "v2", "v3", "x1"])
    var reports: [FuzzCampaign.Report] = []
    try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: encoder.port)) { encoderClient in
      try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: retrieval.port)) { retrievalClient in
        let client = RetrievalClient(retrievalClient)
        func fuzz(_ phase: Int) async {
          reports.append(await campaign.run(
            cases: (phase * 1000)..<(phase * 1000 + 100), until: .now + .seconds(90), concurrency: 4, encoder: encoderClient,
            retrieval: retrievalClient, alive: { encoder.isRunning && retrieval.isRunning }))
        }
        _ = try await client.upsert(RetrievalProcessTests.upsertRequest(0..<100, version: "v1"))
        _ = try await client.backfill(UpgradeProcessTests.backfillRequest("v2", batch: 50, rate: 0))
        await fuzz(1)
        _ = try? await client.backfill(.with { $0.rollback = true })
        _ = try? await client.backfill(.with { $0.stop = true })
        // Started, not followed: the shadow copy fills at 20 documents per second while the fuzzer runs.
        _ = try? await client.backfill(UpgradeProcessTests.backfillRequest("v3", batch: 5, rate: 20), timeout: .seconds(1))
        await fuzz(2)
        try FileManager.default.removeItem(at: repository.appendingPathComponent("v3"))
        try await Task.sleep(for: .seconds(3))
        await fuzz(3)
      }
    }
    for (phase, report) in reports.enumerated() {
      print("fuzz phase \(phase + 1): \(report.cases) cases; statuses \(report.codes.sorted { $0.key < $1.key })")
      #expect(report.failures.isEmpty, "phase \(phase + 1): \(report.failures.prefix(5).map(\.description).joined(separator: "\n"))\n\(retrieval.logTail)")
    }
    #expect(retrieval.isRunning && encoder.isRunning)
    #expect(await retrieval.terminate() == 0)
  }

  @Test("the decoder corpus and every regression input replay through the decoders without a trap")
  func decoderCorpus() async throws {
    let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("FuzzCorpus")
    let result = try await Fixtures.command([corpus.path], executable: "bct-fuzz-decoders")
    #expect(result.status == 0, "\(result.error)")
    #expect(result.output.contains("replayed") && !result.output.contains("replayed 0 "), "\(result.output)")
  }
}
