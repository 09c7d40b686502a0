import BCTRuntime
import ArgumentParser
import GRPCCore
import GRPCNIOTransportHTTP2

/// Optional TLS, mutual TLS and bearer-token authentication of a service.
/// Plain TCP without a token stays the default for local use.
public struct SecurityOptions: ParsableArguments {
  @Option(name: .customLong("tls-cert"), help: "PEM certificate chain; with --tls-key, serve TLS instead of plain TCP. Env BCT_TLS_CERT.")
  public var tlsCertText: String = ""

  @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert. Env BCT_TLS_KEY.")
  public var tlsKeyText: String = ""

  @Option(name: .customLong("tls-client-ca"), help: "PEM CA certificate; clients must present a certificate it signed (mutual TLS). Env BCT_TLS_CLIENT_CA.")
  public var tlsClientCAText: String = ""

  @Option(name: .customLong("auth-token"), help: "Require `authorization: Bearer TOKEN` on every RPC but health checks. Env BCT_AUTH_TOKEN (preferred: flags show in ps).")
  public var authTokenText: String = ""

  /// `--tls-cert`, nil when not given.
  public var tlsCert: String? { tlsCertText.isEmpty ? EnvironmentDefault.optional("BCT_TLS_CERT") : tlsCertText }

  /// `--tls-key`, nil when not given.
  public var tlsKey: String? { tlsKeyText.isEmpty ? EnvironmentDefault.optional("BCT_TLS_KEY") : tlsKeyText }

  /// `--tls-client-ca`, nil when not given.
  public var tlsClientCA: String? { tlsClientCAText.isEmpty ? EnvironmentDefault.optional("BCT_TLS_CLIENT_CA") : tlsClientCAText }

  /// `--auth-token`, nil when not given.
  public var authToken: String? { authTokenText.isEmpty ? EnvironmentDefault.optional("BCT_AUTH_TOKEN") : authTokenText }

  public init() {}

  public func validate() throws {
    guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    guard tlsClientCA == nil || tlsCert != nil else { throw ValidationError("--tls-client-ca needs --tls-cert and --tls-key") }
    if let authToken, authToken.count < 16 { throw ValidationError("the auth token must have at least 16 characters") }
  }

  /// The server transport security these options ask for.
  public var transportSecurity: HTTP2ServerTransport.Posix.TransportSecurity {
    guard let tlsCert, let tlsKey else { return .plaintext }
    let chain: [TLSConfig.CertificateSource] = [.file(path: tlsCert, format: .pem)]
    let key = TLSConfig.PrivateKeySource.file(path: tlsKey, format: .pem)
    guard let tlsClientCA else { return .tls(certificateChain: chain, privateKey: key) }
    return .mTLS(certificateChain: chain, privateKey: key) { config in
      config.trustRoots = .certificates([.file(path: tlsClientCA, format: .pem)])
      // Client certificates are checked against the CA; they name no host to match.
      config.clientCertificateVerification = .noHostnameVerification
    }
  }

  /// The interceptors these options ask for.
  public var interceptors: [any ServerInterceptor] {
    authToken.map { [BearerTokenAuth(token: $0)] } ?? []
  }

  /// A short description for the startup log.
  public var summary: String {
    let transport = tlsCert == nil ? "plaintext" : (tlsClientCA == nil ? "tls" : "mtls")
    return "\(transport)\(authToken == nil ? "" : "+token")"
  }
}
