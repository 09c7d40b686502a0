import GRPCCore
import GRPCNIOTransportHTTP2

/// How a client reaches a service that runs TLS, mutual TLS or bearer-token auth.
/// Empty (the default) means plain TCP and no token.
public struct ClientSecurity: Sendable, Equatable {
  /// PEM CA certificate that signed the server's certificate; turns TLS on.
  public var caFile: String?
  /// PEM certificate chain presenting this client (mutual TLS).
  public var certificateFile: String?
  /// PEM private key of `certificateFile`.
  public var keyFile: String?
  /// Bearer token sent on every call.
  public var token: String?

  /// Security with the given parts.
  public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil, token: String? = nil) {
    self.caFile = caFile
    self.certificateFile = certificateFile
    self.keyFile = keyFile
    self.token = token
  }

  /// The transport security these settings ask for.
  var transportSecurity: HTTP2ClientTransport.Posix.TransportSecurity {
    let roots: TLSConfig.TrustRootsSource = caFile.map { .certificates([.file(path: $0, format: .pem)]) } ?? .systemDefault
    if let certificateFile, let keyFile {
      return .mTLS(certificateChain: [.file(path: certificateFile, format: .pem)], privateKey: .file(path: keyFile, format: .pem)) {
        $0.trustRoots = roots
      }
    }
    guard caFile != nil else { return .plaintext }
    return .tls { $0.trustRoots = roots }
  }

  var interceptors: [any ClientInterceptor] {
    token.map { [BearerToken(token: $0)] } ?? []
  }
}

/// Adds `authorization: Bearer <token>` to every call.
struct BearerToken: ClientInterceptor {
  let token: String

  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingClientRequest<Input>,
    context: ClientContext,
    next: (StreamingClientRequest<Input>, ClientContext) async throws -> StreamingClientResponse<Output>
  ) async throws -> StreamingClientResponse<Output> {
    var request = request
    request.metadata.replaceOrAddString("Bearer \(token)", forKey: "authorization")
    return try await next(request, context)
  }
}
