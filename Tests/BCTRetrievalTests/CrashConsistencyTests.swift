import BCTClient
import BCTIndex
import BCTNumerics
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// kill -9 at random points of a bulk ingest, twenty times over one data folder.
@Suite("Crash consistency", .serialized)
struct CrashConsistencyTests {
  static let batch = 25

  /// The vector of document `n`: deterministic, so a reference can be rebuilt.
  static func vector(_ n: Int) -> [Float] {
    var generator = SeededGenerator(seed: UInt64(n) + 1)
    return Matrix.gaussian(rows: 1, columns: 128, std: 1, using: &generator).l2NormalizedRows().values
  }

  static func request(batch b: Int) -> Bct_V1_UpsertRequest {
    Bct_V1_UpsertRequest.with { request in
      request.documents = (0..<batch).map { i in
        let n = b * batch + i
        return Bct_V1_Document.with {
          $0.id = "doc-\(n)"
          $0.metadata = ["batch": "\(b)"]
          $0.embedding.modelVersion = "v1"
          $0.embedding.values = vector(n)
        }
      }
    }
  }

  @Test("after each of 20 kill -9s: every acknowledged batch is there, no batch is half there, searches match a rebuilt reference")
  func rounds() async throws {
    let encoder = try await Fixtures.startEncoder(try await Fixtures.trainedRepository())
    defer { Task { await encoder.kill9() } }
    let data = Fixtures.temporaryFolder("bct-crash-rounds")
    var acknowledged = Set<Int>()
    var tried = Set<Int>()
    var nextBatch = 0
    var generator = SystemRandomNumberGenerator()
    for round in 0..<20 {
      let retrieval = try await Fixtures.startRetrieval(
        encoderPort: encoder.port, dataDirectory: data, extra: ["--snapshot-changes", "\(Int.random(in: 3...12, using: &generator))"])
      let port = retrieval.port
      let first = nextBatch
      let acks = AckedBatches()
      let ingest = Task {
        try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: port)) { connection in
          let client = RetrievalClient(connection)
          for b in first..<(first + 400) {
            _ = try await client.upsert(Self.request(batch: b), timeout: .seconds(10))
            await acks.add(b)
          }
        }
      }
      try await Task.sleep(for: .milliseconds(Int.random(in: 30...400, using: &generator)))
      await retrieval.kill9()
      _ = await ingest.result
      let acked = await acks.batches
      acknowledged.formUnion(acked)
      nextBatch = first + 400

      let restarted = try await Fixtures.startRetrieval(encoderPort: encoder.port, dataDirectory: data)
      try await withConnection(to: ServiceAddress(host: "127.0.0.1", port: restarted.port)) { connection in
        let client = RetrievalClient(connection)
        // Which batches are present: search with each tried batch's first vector (256 per call).
        tried.formUnion(acked)
        tried.insert((acked.max() ?? first - 1) + 1)
        var present = Set<Int>()
        let candidates = tried.sorted()
        for start in stride(from: 0, to: candidates.count, by: 256) {
          let part = Array(candidates[start..<min(candidates.count, start + 256)])
          let response = try await client.search(.with {
            $0.embeddings.modelVersion = "v1"
            $0.embeddings.vectors = Bct_V1_Tensor.with {
              $0.shape = [Int64(part.count), 128]
              $0.values = part.flatMap { Self.vector($0 * Self.batch) }
            }
            $0.k = 1
          })
          for (b, result) in zip(part, response.results) where result.hits.first?.id == "doc-\(b * Self.batch)" {
            present.insert(b)
          }
        }
        let stats = try await client.stats()
        #expect(acknowledged.isSubset(of: present), "round \(round): acknowledged batches missing: \(acknowledged.subtracting(present).sorted().prefix(5))")
        #expect(Int(stats.documents) == present.count * Self.batch, "round \(round): \(stats.documents) documents for \(present.count) whole batches")
        #expect(present.subtracting(acknowledged).count <= 1, "round \(round): at most the one in-flight batch is present unacknowledged")
        acknowledged.formUnion(present)

        // The service's answers equal an exact search over the rebuilt set.
        var reference = FlatIndex(dimension: 128)
        let members = present.sorted().flatMap { b in (0..<Self.batch).map { b * Self.batch + $0 } }
        reference.add(ids: members.map { "doc-\($0)" }, vectors: Matrix(rows: members.count, columns: 128, values: members.flatMap(Self.vector)))
        var queryGenerator = SeededGenerator(seed: UInt64(round) + 100)
        let queries = Matrix.gaussian(rows: 3, columns: 128, std: 1, using: &queryGenerator).l2NormalizedRows()
        let response = try await client.search(.with {
          $0.embeddings.modelVersion = "v1"
          $0.embeddings.vectors = Bct_V1_Tensor.with { $0.shape = [3, 128]; $0.values = queries.values }
          $0.k = 10
        })
        let expected = reference.search(queries, k: 10)
        #expect(response.results.map { $0.hits.map(\.id) } == expected.map { $0.map(\.id) }, "round \(round)")
      }
      #expect(await restarted.terminate() == 0)
    }
    #expect(acknowledged.count > 20)
  }
}

actor AckedBatches {
  var batches = Set<Int>()
  func add(_ b: Int) { batches.insert(b) }
}
