import BCTCollection

/// The retrieval domain error `call` throws, or nil when it succeeds or throws another error.
func retrievalError(_ call: () async throws -> some Sendable) async -> RetrievalError? {
  do {
    _ = try await call()
    return nil
  } catch {
    return error as? RetrievalError
  }
}
