import BCTProto
import BCTProtoC
import Foundation
import SwiftProtobuf
import Testing

/// Proves that a non-Swift runtime (protobuf-c) reads and writes `bct.v1`
/// messages exactly as swift-protobuf does.
@Suite("Wire compatibility with protobuf-c")
struct CWireCompatibilityTests {
  /// Packs a message with one of the C sample builders.
  static func cBytes(_ pack: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>) -> Int) -> [UInt8] {
    var buffer: UnsafeMutablePointer<UInt8>?
    let length = pack(&buffer)
    defer { free(buffer) }
    return Array(UnsafeBufferPointer(start: buffer, count: length))
  }

  static func string(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
    pointer.map { String(cString: $0) } ?? ""
  }

  static func array<T>(_ pointer: UnsafeMutablePointer<T>?, _ count: Int) -> [T] {
    guard let pointer else { return [] }
    return Array(UnsafeBufferPointer(start: pointer, count: count))
  }

  // MARK: C writes, Swift reads

  @Test("EmbedRequest packed by C decodes to the same message, byte for byte")
  func embedRequestFromC() throws {
    let bytes = Self.cBytes { bct_c_pack_embed_request($0) }
    let decoded = try Bct_V1_EmbedRequest(serializedBytes: bytes)
    #expect(decoded == Samples.embedRequest)
    let swiftBytes: [UInt8] = try Samples.embedRequest.serializedBytes()
    #expect(swiftBytes == bytes)
  }

  @Test("UpsertRequest with metadata, raw input bytes and an embedding decodes from C")
  func upsertRequestFromC() throws {
    let bytes = Self.cBytes { bct_c_pack_upsert_request($0) }
    let decoded = try Bct_V1_UpsertRequest(serializedBytes: bytes)
    #expect(decoded == Samples.upsertRequest)
    #expect(decoded.documents[1].id == "été/✓")
  }

  @Test("SearchResponse with hits, metadata and an empty result decodes from C")
  func searchResponseFromC() throws {
    let bytes = Self.cBytes { bct_c_pack_search_response($0) }
    #expect(try Bct_V1_SearchResponse(serializedBytes: bytes) == Samples.searchResponse)
  }

  @Test("ListModelsResponse with every ModelInfo field decodes from C")
  func listModelsFromC() throws {
    let bytes = Self.cBytes { bct_c_pack_list_models_response($0) }
    #expect(try Bct_V1_ListModelsResponse(serializedBytes: bytes) == Samples.listModelsResponse)
  }

  @Test("BackfillProgress packed by C decodes to the same message, byte for byte")
  func backfillProgressFromC() throws {
    let bytes = Self.cBytes { bct_c_pack_backfill_progress($0) }
    #expect(try Bct_V1_BackfillProgress(serializedBytes: bytes) == Samples.backfillProgress)
    let swiftBytes: [UInt8] = try Samples.backfillProgress.serializedBytes()
    #expect(swiftBytes == bytes)
  }

  // MARK: Swift writes, C reads

  @Test("C unpacks a Swift EmbedRequest field by field")
  func embedRequestToC() throws {
    let bytes: [UInt8] = try Samples.embedRequest.serializedBytes()
    let message = try #require(bytes.withUnsafeBufferPointer {
      bct__v1__embed_request__unpack(nil, $0.count, $0.baseAddress)
    })
    defer { bct__v1__embed_request__free_unpacked(message, nil) }
    #expect(Self.string(message.pointee.model_version) == "v2")
    #expect(message.pointee.normalization == BCT__V1__NORMALIZATION__NORMALIZATION_NONE)
    let inputs = try #require(message.pointee.inputs).pointee
    #expect(Self.array(inputs.shape, inputs.n_shape) == [2, 1, 2, 2])
    #expect(Self.array(inputs.values, inputs.n_values) == Samples.embedRequest.inputs.values)
    #expect(inputs.float32_le.len == 0)
  }

  @Test("C unpacks a Swift UpsertRequest: ids, UTF-8, metadata map, raw bytes, embedding")
  func upsertRequestToC() throws {
    let bytes: [UInt8] = try Samples.upsertRequest.serializedBytes()
    let message = try #require(bytes.withUnsafeBufferPointer {
      bct__v1__upsert_request__unpack(nil, $0.count, $0.baseAddress)
    })
    defer { bct__v1__upsert_request__free_unpacked(message, nil) }
    let request = message.pointee
    #expect(Self.string(request.model_version) == "v1")
    let documents = Self.array(request.documents, request.n_documents).map { $0!.pointee }
    #expect(documents.count == 2)
    #expect(Self.string(documents[0].id) == "test/0")
    let entries = Self.array(documents[0].metadata, documents[0].n_metadata).map { $0!.pointee }
    #expect(entries.map { Self.string($0.key) } == ["label"])
    #expect(entries.map { Self.string($0.value) } == ["Ankle boot"])
    let input = try #require(documents[0].input).pointee
    #expect(Self.array(input.shape, input.n_shape) == [1, 2, 2])
    #expect(Self.array(input.float32_le.data, input.float32_le.len) == Samples.littleEndianBytes([1, 2, 3, 4]))
    #expect(Self.string(documents[1].id) == "été/✓")
    #expect(documents[1].input == nil)
    let embedding = try #require(documents[1].embedding).pointee
    #expect(Self.string(embedding.model_version) == "v1")
    #expect(Self.array(embedding.values, embedding.n_values) == [0.6, -0.8, 0])
  }

  @Test("C unpacks a Swift SearchRequest oneof and a SearchResponse")
  func searchToC() throws {
    var request = Bct_V1_SearchRequest()
    request.k = 10
    request.queryModelVersion = "v2"
    var batch = Bct_V1_EmbeddingBatch()
    batch.modelVersion = "v1"
    batch.vectors.shape = [1, 3]
    batch.vectors.values = [1, 0, 0]
    request.embeddings = batch
    let bytes: [UInt8] = try request.serializedBytes()
    let message = try #require(bytes.withUnsafeBufferPointer {
      bct__v1__search_request__unpack(nil, $0.count, $0.baseAddress)
    })
    defer { bct__v1__search_request__free_unpacked(message, nil) }
    #expect(message.pointee.k == 10)
    #expect(message.pointee.query_case == BCT__V1__SEARCH_REQUEST__QUERY_EMBEDDINGS)
    let embeddings = try #require(message.pointee.embeddings).pointee
    #expect(Self.string(embeddings.model_version) == "v1")
    let vectors = try #require(embeddings.vectors).pointee
    #expect(Self.array(vectors.values, vectors.n_values) == [1, 0, 0])

    let responseBytes: [UInt8] = try Samples.searchResponse.serializedBytes()
    let response = try #require(responseBytes.withUnsafeBufferPointer {
      bct__v1__search_response__unpack(nil, $0.count, $0.baseAddress)
    })
    defer { bct__v1__search_response__free_unpacked(response, nil) }
    #expect(response.pointee.n_results == 2)
    let first = try #require(response.pointee.results[0]).pointee
    let hits = Self.array(first.hits, first.n_hits).map { $0!.pointee }
    #expect(hits.map { Self.string($0.id) } == ["doc-9", "doc-3"])
    #expect(hits.map(\.score) == [0.875, -0.125])
    #expect(response.pointee.results[1]!.pointee.n_hits == 0)
  }

  @Test("C unpacks a Swift ListModelsResponse field by field")
  func listModelsToC() throws {
    let bytes: [UInt8] = try Samples.listModelsResponse.serializedBytes()
    let message = try #require(bytes.withUnsafeBufferPointer {
      bct__v1__list_models_response__unpack(nil, $0.count, $0.baseAddress)
    })
    defer { bct__v1__list_models_response__free_unpacked(message, nil) }
    #expect(Self.string(message.pointee.default_version) == "v2")
    let model = try #require(message.pointee.models[0]).pointee
    let expected = Samples.listModelsResponse.models[0]
    #expect(Self.string(model.version) == expected.version)
    #expect(Self.string(model.architecture) == expected.architecture)
    #expect(Self.array(model.input_shape, model.n_input_shape) == expected.inputShape)
    #expect(model.input_normalization.pointee.scale == expected.inputNormalization.scale)
    #expect(model.embedding_dim == 128 && model.num_classes == 10 && model.is_default != 0)
    #expect(Self.string(model.head_fingerprint) == expected.headFingerprint)
    #expect(Self.string(model.lineage) == expected.lineage)
    #expect(Self.string(model.parent_version) == "v1")
    #expect(Self.array(model.compatible_with, model.n_compatible_with).map { Self.string($0) } == ["v1", "v2"])
    let evaluation = try #require(model.evaluations[0]).pointee
    #expect(evaluation.top1 == 0.842 && evaluation.mean_average_precision == 0.774)
    let training = try #require(model.training).pointee
    #expect(Self.array(training.classes, training.n_classes) == [0, 1, 2, 3, 4])
    #expect(training.seed == 42 && training.fraction == 0.5)
    #expect(Self.string(training.compatibility_objective) == "influence")
  }

  @Test("C rejects a truncated message instead of reading past the end")
  func truncated() throws {
    let bytes: [UInt8] = try Samples.listModelsResponse.serializedBytes()
    let message = bytes.dropLast(7).withUnsafeBufferPointer {
      bct__v1__list_models_response__unpack(nil, $0.count, $0.baseAddress)
    }
    #expect(message == nil)
    #expect(throws: (any Error).self) {
      try Bct_V1_ListModelsResponse(serializedBytes: Array(bytes.dropLast(7)))
    }
  }
}
