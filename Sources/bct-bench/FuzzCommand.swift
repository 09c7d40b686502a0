import ArgumentParser
import BCTClient
import BCTFuzzing
import Foundation

/// `bct-bench fuzz`: the schema fuzzer against running services, for as long as
/// asked; prints a summary and every failure with the seed and case that replay it.
struct FuzzCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fuzz",
    abstract: "Schema-generated requests for every RPC against running services; fails on UNKNOWN/INTERNAL, a dead process or unhealthy service.")

  @Option(help: "The encoder, HOST:PORT.") var encoder: String
  @Option(help: "The retrieval service, HOST:PORT.") var retrieval: String
  @Option(help: "Seed of the run.") var seed: UInt64 = 1
  @Option(help: "Seconds to run at most.") var seconds: Double = 60
  @Option(help: "First case number (to replay one: --first N --cases 1).") var first: Int = 0
  @Option(help: "Cases to send at most.") var cases: Int = 1_000_000_000
  @Option(help: "Calls in flight at once.") var concurrency: Int = 8
  @Option(help: "Version names the generator prefers, comma separated.") var versions: String = "v1,v2,v3,x1"
  @Option(help: "Process ids that must stay alive, comma separated.") var pids: String = ""

  func run() async throws {
    let pidList = pids.split(separator: ",").compactMap { Int32($0) }
    let campaign = FuzzCampaign(seed: seed, versions: versions.split(separator: ",").map(String.init))
    let report = try await withConnection(to: try ServiceAddress(parsing: encoder)) { encoderClient in
      try await withConnection(to: try ServiceAddress(parsing: retrieval)) { retrievalClient in
        await campaign.run(
          cases: first..<(first + cases), until: .now + .seconds(seconds), concurrency: concurrency,
          encoder: encoderClient, retrieval: retrievalClient, alive: { pidList.allSatisfy { kill($0, 0) == 0 } })
      }
    }
    print("fuzz seed \(seed): \(report.cases) cases; statuses \(report.codes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", "))")
    for failure in report.failures { print("FAILED \(failure)") }
    if !report.failures.isEmpty { throw ExitCode(1) }
  }
}
