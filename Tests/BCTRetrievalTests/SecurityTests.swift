import BCTClient
import BCTProcess
import BCTProto
import BCTTestSupport
import Foundation
import GRPCCore
import Testing

/// TLS, mutual TLS between retrieval and encoder, and bearer tokens, with a
/// throw-away CA made by openssl in the test.
@Suite("TLS, mutual TLS and bearer tokens", .serialized)
struct SecurityTests {
  struct Credentials {
    let folder: URL
    func path(_ name: String) -> String { folder.appendingPathComponent(name).path }
  }

  static func makeCredentials() throws -> Credentials {
    let folder = Fixtures.temporaryFolder("bct-tls")
    let script = """
      set -e
      cd '\(folder.path)'
      key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
      key ca.key
      openssl req -x509 -new -key ca.key -out ca.pem -days 2 -subj "/CN=bct test CA" \
        -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"
      for who in server client; do
        key $who.key
        openssl req -new -key $who.key -out $who.csr -subj "/CN=$who"
      done
      printf "subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\n" > server.ext
      printf "extendedKeyUsage=clientAuth\\n" > client.ext
      for who in server client; do
        openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out $who.pem -days 2 -extfile $who.ext 2>/dev/null
      done
      key other.key
      openssl req -x509 -new -key other.key -out other.pem -days 2 -subj "/CN=someone else"
      """
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", script]
    try process.run()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else { throw ServiceProcessError("openssl failed to make test certificates") }
    return Credentials(folder: folder)
  }

  @Test("plain, wrong CA, no token and a wrong token are refused; the right credentials work end to end")
  func secured() async throws {
    let c = try Self.makeCredentials()
    let token = "s3cret-token-0123456789"
    let encoder = try await ServiceProcess(
      executable: try ServiceProcess.locate("bct-encoder"),
      arguments: ["--models", try await Fixtures.trainedRepository().path, "--host", "127.0.0.1", "--port", "0", "--no-metrics",
                  "--tls-cert", c.path("server.pem"), "--tls-key", c.path("server.key"), "--tls-client-ca", c.path("ca.pem")],
      environment: ["BCT_AUTH_TOKEN": token])
    defer { Task { await encoder.kill9() } }
    let retrieval = try await ServiceProcess(
      executable: try ServiceProcess.locate("bct-retrieval"),
      arguments: ["--encoder", "127.0.0.1:\(encoder.port)", "--data-dir", Fixtures.temporaryFolder("bct-tls-data").path,
                  "--host", "127.0.0.1", "--port", "0", "--no-metrics",
                  "--tls-cert", c.path("server.pem"), "--tls-key", c.path("server.key"),
                  "--encoder-ca", c.path("ca.pem"), "--encoder-cert", c.path("client.pem"), "--encoder-key", c.path("client.key")],
      environment: ["BCT_AUTH_TOKEN": token, "BCT_ENCODER_TOKEN": token])
    defer { Task { await retrieval.kill9() } }
    let retrievalAddress = ServiceAddress(host: "127.0.0.1", port: retrieval.port)
    let encoderAddress = ServiceAddress(host: "127.0.0.1", port: encoder.port)
    let good = ClientSecurity(caFile: c.path("ca.pem"), token: token)

    // Plain TCP to a TLS port, or a server certificate from another CA: no connection. The client reports
    // UNAVAILABLE once its connection attempt fails; on a loaded machine the deadline can pass first while it
    // retries, so DEADLINE_EXCEEDED says the same (the RPC never reached the service).
    let transportRefused: Set<RPCError.Code> = [.unavailable, .deadlineExceeded]
    let plain = await Fixtures.rpcError { try await withConnection(to: retrievalAddress) { try await RetrievalClient($0).stats(timeout: .seconds(5)) } }
    #expect(plain.map { transportRefused.contains($0.code) } == true, "\(String(describing: plain))")
    let wrongCA = await Fixtures.rpcError {
      try await withConnection(to: retrievalAddress, security: ClientSecurity(caFile: c.path("other.pem"), token: token)) {
        try await RetrievalClient($0).stats(timeout: .seconds(5))
      }
    }
    #expect(wrongCA.map { transportRefused.contains($0.code) } == true, "\(String(describing: wrongCA))")

    // TLS, but no token or a wrong one: UNAUTHENTICATED; health needs no token.
    let noToken = await Fixtures.rpcError {
      try await withConnection(to: retrievalAddress, security: ClientSecurity(caFile: c.path("ca.pem"))) { try await RetrievalClient($0).stats() }
    }
    #expect(noToken?.code == .unauthenticated && noToken?.message.contains("missing bearer token") == true)
    let wrongToken = await Fixtures.rpcError {
      try await withConnection(to: retrievalAddress, security: ClientSecurity(caFile: c.path("ca.pem"), token: token + "x")) {
        try await RetrievalClient($0).stats()
      }
    }
    #expect(wrongToken?.code == .unauthenticated)
    let health = try await withConnection(to: retrievalAddress, security: ClientSecurity(caFile: c.path("ca.pem"))) {
      try await HealthClient($0).check()
    }
    #expect(health == .serving)

    // The encoder wants a client certificate too (mutual TLS).
    let noClientCert = await Fixtures.rpcError {
      try await withConnection(to: encoderAddress, security: good) { try await EncoderClient($0).listModels(timeout: .seconds(3)) }
    }
    #expect(noClientCert != nil)
    let withClientCert = ClientSecurity(caFile: c.path("ca.pem"), certificateFile: c.path("client.pem"), keyFile: c.path("client.key"), token: token)
    #expect(try await withConnection(to: encoderAddress, security: withClientCert) { try await EncoderClient($0).listModels() }.models.count == 2)

    // End to end: retrieval embeds through the encoder over mutual TLS with its token.
    try await withConnection(to: retrievalAddress, security: good) { connection in
      let client = RetrievalClient(connection)
      var request = Bct_V1_UpsertRequest()
      request.documents = [Bct_V1_Document.with {
        $0.id = "a"
        $0.input.shape = [1, 28, 28]
        $0.input.values = (0..<784).map { Float($0 % 256) }
      }]
      let inserted = try await client.upsert(request).inserted
      let documents = try await client.stats().documents
      #expect(inserted == 1 && documents == 1)
    }

    // The CLI takes the same settings from flags or the environment.
    let cli = try await Fixtures.command(["stats", "--json"], environment: [
      "BCT_RETRIEVAL": "127.0.0.1:\(retrieval.port)", "BCT_CA": c.path("ca.pem"), "BCT_TOKEN": token,
    ])
    #expect(cli.status == 0 && cli.output.contains("\"documents\":1"), "\(cli)")
    #expect(await retrieval.terminate() == 0)
    #expect(await encoder.terminate() == 0)
  }
}
