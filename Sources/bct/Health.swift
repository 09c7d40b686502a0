import ArgumentParser
import BCTClient
import Foundation
import GRPCCore

/// `bct health`: the health of both services.
struct Health: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Check the services' health (exit 0 only if every checked one is SERVING).")
  @OptionGroup var connection: ConnectionOptions
  @Option(help: "Which: encoder, retrieval or both.") var service: String = "both"
  @Option(help: "Check only this model version on the encoder (health name bct.v1.Encoder/VERSION).")
  var modelVersion: String?

  func validate() throws {
    guard ["encoder", "retrieval", "both"].contains(service) else { throw ValidationError("--service must be encoder, retrieval or both") }
    if let modelVersion, modelVersion.isEmpty { throw ValidationError("--model-version must not be empty") }
  }

  func run() async throws {
    var healthy = true
    var report: [String: String] = [:]
    let targets: [(name: String, address: String, health: String)] = if let modelVersion {
      [("encoder/\(modelVersion)", connection.encoder, "bct.v1.Encoder/\(modelVersion)")]
    } else {
      [("encoder", connection.encoder, ""), ("retrieval", connection.retrieval, "")].filter { service == "both" || service == $0.name }
    }
    for (name, address, healthName) in targets {
      let status: String
      do {
        status = "\(try await withConnection(to: ServiceAddress(parsing: address), security: connection.security) { try await HealthClient($0).check(service: healthName, timeout: connection.timeout) })"
      } catch let error as RPCError where error.code == .notFound {
        status = "unknown"
      } catch let error as RPCError {
        status = "unreachable (\(error.code))"
      }
      report[name] = status
      healthy = healthy && status == "serving"
      if !connection.json { print("\(column(name, max(10, name.count + 1))) \(column(address, 22)) \(status)") }
    }
    if connection.json { try printJSON(report) }
    if !healthy { throw ExitCode(1) }
  }
}
