import ArgumentParser
import BCTClient
import BCTNumerics
import BCTProto
import Foundation
import GRPCCore
import Synchronization

/// A load generator over our gRPC clients: N concurrent clients for a bounded
/// time; prints QPS, latency percentiles, errors by status code and the services'
/// resident memory (sampled from /proc) as JSON.
struct LoadBench: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "load",
    abstract: "Concurrent clients against running services; prints JSON.")

  @Option(help: "The encoder, HOST:PORT.") var encoder: String
  @Option(help: "The retrieval service, HOST:PORT.") var retrieval: String
  @Option(help: "What each call does: search (by embedding, k=10), embed (one image), embed-batch (--rows images), upsert (one document by embedding), upsert-raw (one image, embedded through the encoder).")
  var workload: String = "search"
  @Option(help: "Concurrent clients.") var clients: Int = 32
  @Option(help: "Seconds to run.") var seconds: Double = 10
  @Option(help: "Rows per embed-batch call.") var rows: Int = 64
  @Option(help: "First index documents by embedding (random unit vectors of version v1) up to this count.") var preload: Int = 0
  @Option(help: "Process ids whose resident memory to sample, comma separated.") var pids: String = ""

  func run() async throws {
    let encoderAddress = try ServiceAddress(parsing: encoder)
    let retrievalAddress = try ServiceAddress(parsing: retrieval)
    var generator = SeededGenerator(seed: 3)
    let queries = Matrix.gaussian(rows: 512, columns: 128, std: 1, using: &generator).l2NormalizedRows()
    let images = Matrix(rows: 256, columns: 784, values: (0..<(256 * 784)).map { Float(($0 * 7919) % 256) })
    var preloaded: [String: Double] = [:]
    if preload > 0 {
      let clock = ContinuousClock()
      let began = clock.now
      var batches: [Double] = []
      var added = 0
      try await withConnection(to: retrievalAddress) { connection in
        let client = RetrievalClient(connection)
        var start = Int(try await client.stats().documents)
        while start < preload {
          let count = min(1000, preload - start)
          let vectors = Matrix.gaussian(rows: count, columns: 128, std: 1, using: &generator).l2NormalizedRows()
          var request = Bct_V1_UpsertRequest()
          request.documents = (0..<count).map { i in
            Bct_V1_Document.with {
              $0.id = "load-\(start + i)"
              $0.metadata = ["n": "\(start + i)"]
              $0.embedding.modelVersion = "v1"
              $0.embedding.values = Array(vectors.values[(i * 128)..<((i + 1) * 128)])
            }
          }
          let batchStart = clock.now
          _ = try await client.upsert(request, timeout: .seconds(120))
          batches.append((clock.now - batchStart).inSeconds * 1000)
          start += count
          added += count
        }
      }
      let seconds = (clock.now - began).inSeconds
      batches.sort()
      preloaded = [
        "documents": Double(added), "seconds": seconds, "documents_per_second": Double(added) / max(seconds, 1e-9),
        "batch_p50_ms": percentile(sorted: batches, 0.5), "batch_p99_ms": percentile(sorted: batches, 0.99),
      ]
    }
    let memory = MemorySampler(pids: pids.split(separator: ",").compactMap { Int32($0) })
    let recorder = Recorder()
    let clock = ContinuousClock()
    let started = clock.now
    let limit = Duration.seconds(seconds)
    let workload = self.workload
    let rows = self.rows
    try await withConnection(to: retrievalAddress) { retrievalConnection in
      try await withConnection(to: encoderAddress) { encoderConnection in
        let search = RetrievalClient(retrievalConnection)
        let embed = EncoderClient(encoderConnection)
        await withTaskGroup(of: Void.self) { group in
          group.addTask {
            while clock.now - started < limit {
              memory.sample()
              try? await Task.sleep(for: .milliseconds(250))
            }
          }
          for client in 0..<clients {
            group.addTask {
              var i = client * 7919
              while clock.now - started < limit {
                let callStart = clock.now
                do {
                  switch workload {
                  case "embed":
                    _ = try await embed.embed(images.rows((i % 256)..<(i % 256 + 1)), rowShape: [1, 28, 28], version: "v1", timeout: .seconds(10))
                  case "embed-batch":
                    _ = try await embed.embed(images.rows(0..<min(rows, 256)), rowShape: [1, 28, 28], version: "v1", timeout: .seconds(10))
                  case "upsert-raw":
                    var request = Bct_V1_UpsertRequest()
                    // The preloaded documents are v1's: embed with v1 whatever the encoder's certificates say of newer versions.
                    request.modelVersion = "v1"
                    request.documents = [Bct_V1_Document.with {
                      $0.id = "raw-\(client)-\(i)"
                      $0.input.shape = [1, 28, 28]
                      $0.input.values = Array(images.values[((i % 256) * 784)..<((i % 256 + 1) * 784)])
                    }]
                    _ = try await search.upsert(request, timeout: .seconds(10))
                  case "upsert":
                    var request = Bct_V1_UpsertRequest()
                    request.documents = [Bct_V1_Document.with {
                      $0.id = "upsert-\(client)-\(i)"
                      $0.embedding.modelVersion = "v1"
                      $0.embedding.values = Array(queries.values[((i % 512) * 128)..<((i % 512 + 1) * 128)])
                    }]
                    _ = try await search.upsert(request, timeout: .seconds(10))
                  default:
                    var request = Bct_V1_SearchRequest()
                    request.embeddings.modelVersion = "v1"
                    request.embeddings.vectors = Bct_V1_Tensor.with {
                      $0.shape = [1, 128]
                      $0.values = Array(queries.values[((i % 512) * 128)..<((i % 512 + 1) * 128)])
                    }
                    request.k = 10
                    _ = try await search.search(request, timeout: .seconds(10))
                  }
                  recorder.record(clock.now - callStart, code: nil)
                } catch let error as RPCError {
                  recorder.record(clock.now - callStart, code: "\(error.code)")
                } catch {
                  recorder.record(clock.now - callStart, code: "other")
                }
                i += 1
              }
            }
          }
        }
      }
    }
    let elapsed = clock.now - started
    var result = recorder.summary(seconds: elapsed.inSeconds)
    result["workload"] = workload
    result["clients"] = clients
    result["memory"] = memory.summary()
    if !preloaded.isEmpty { result["preload"] = preloaded }
    print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
  }
}

/// Latencies and outcomes of calls.
final class Recorder: Sendable {
  private let state = Mutex<(ok: [Double], failed: [Double], codes: [String: Int])>(([], [], [:]))

  func record(_ duration: Duration, code: String?) {
    let ms = duration.inSeconds * 1000
    state.withLock { state in
      if let code {
        state.failed.append(ms)
        state.codes[code, default: 0] += 1
      } else {
        state.ok.append(ms)
      }
    }
  }

  func summary(seconds: Double) -> [String: Any] {
    state.withLock { state in
      let ok = state.ok.sorted()
      let failed = state.failed.sorted()
      return [
        "seconds": seconds, "ok": ok.count, "errors": failed.count, "error_codes": state.codes,
        "qps": Double(ok.count) / seconds,
        "p50_ms": percentile(sorted: ok, 0.50), "p95_ms": percentile(sorted: ok, 0.95),
        "p99_ms": percentile(sorted: ok, 0.99), "max_ms": ok.last ?? 0,
        "error_p99_ms": percentile(sorted: failed, 0.99),
      ]
    }
  }
}

/// Resident memory of processes, from /proc/PID/status.
final class MemorySampler: Sendable {
  private let pids: [Int32]
  private let samples = Mutex<[Int32: [Int]]>([:])

  init(pids: [Int32]) { self.pids = pids }

  func sample() {
    for pid in pids {
      guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let line = text.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
        let kb = Int(line.split(separator: " ").dropFirst().first ?? "")
      else { continue }
      samples.withLock { $0[pid, default: []].append(kb) }
    }
  }

  /// Per pid: first, peak and last RSS in MiB, and the growth over the second half of the run.
  func summary() -> [String: [String: Double]] {
    samples.withLock { samples in
      var out: [String: [String: Double]] = [:]
      for (pid, values) in samples where !values.isEmpty {
        let half = values[(values.count / 2)...]
        out["\(pid)"] = [
          "first_mib": Double(values.first!) / 1024, "peak_mib": Double(values.max()!) / 1024,
          "last_mib": Double(values.last!) / 1024,
          "second_half_growth_mib": Double(half.last! - half.first!) / 1024,
        ]
      }
      return out
    }
  }
}

/// The `p` quantile (0-1) of ascending `values` (the nearest rank below); 0 when empty.
func percentile(sorted values: [Double], _ p: Double) -> Double {
  values.isEmpty ? 0 : values[min(values.count - 1, Int(Double(values.count) * p))]
}
