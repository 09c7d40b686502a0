import BCTCollection
import GRPCCore

/// The one place where the retrieval service's domain errors become gRPC statuses:
/// every handler runs its domain call through `ErrorStatus.mapping`.
public enum ErrorStatus {
  /// Runs `body`, answering a `RetrievalError` or `EncoderError` with its status
  /// and message; other errors (already statuses) pass through.
  public static func mapping<Result>(_ body: () async throws -> Result) async throws -> Result {
    do {
      return try await body()
    } catch {
      throw status(of: error)
    }
  }

  /// The status `error` is answered with.
  public static func status(of error: any Error) -> any Error {
    switch error {
    case let error as RetrievalError: RPCError(code: error.code, message: error.description)
    case let error as EncoderError: RPCError(code: error.code, message: error.description)
    default: error
    }
  }
}

extension RetrievalError {
  /// The gRPC status code of this error.
  public var code: RPCError.Code {
    switch self {
    case .invalidArgument, .inputSize, .storedInputCorrupt: .invalidArgument
    case .overLimit, .replyTooLarge: .resourceExhausted
    case .unknownVersion, .unknownQueryVersion, .documentsMissing, .collectionNotFound, .collectionDropped: .notFound
    case .collectionExists: .alreadyExists
    case .collectionLimit: .resourceExhausted
    case .noVersions, .logWriteFailed, .storeUnavailable: .unavailable
    case .versionsKeptChanging: .aborted
    case .storeFailed: .internalError
    case .noCertifiedQueryVersion, .notCertified, .incompatible, .crossLineageNeedsShadow, .inPlaceNotCertified,
      .dimensionConflict, .queryDimensionMismatch, .shadowInProgress, .alreadySwitched, .backfillRunning,
      .inputsMissing, .externalVersion, .transformNeedsOneSource, .transformNotCertified, .transformUncertified, .uncertifiedTransformInPlace, .transformSourceMismatch, .noShadowToFinalize, .notSwitched, .noBackfillRunning, .noShadowToRollBack,
      .shadowWithoutDocumentVersion, .shadowFixesVersions, .shadowEmbeddingVersion, .shadowNeedsInput,
      .readOnly, .storeRefused, .filterUnsupported, .defaultCollectionPermanent:
      .failedPrecondition
    }
  }
}

extension EncoderError {
  /// The gRPC status code of this error.
  public var code: RPCError.Code {
    switch self {
    case .unavailable: .unavailable
    case .deadlinePassed, .timedOut: .deadlineExceeded
    case .refused(let code, _): code
    case .wrongVersion: .internalError
    }
  }
}
