import BCTProto
import Foundation

/// The same representative messages that `BCTProtoC/samples.c` builds with protobuf-c,
/// built here with swift-protobuf.
enum Samples {
  static var embedRequest: Bct_V1_EmbedRequest {
    var request = Bct_V1_EmbedRequest()
    request.modelVersion = "v2"
    request.inputs.shape = [2, 1, 2, 2]
    request.inputs.values = [0, 1, 2, 3, 255, 254.5, -1, 0.25]
    request.normalization = .none
    return request
  }

  static var upsertRequest: Bct_V1_UpsertRequest {
    var first = Bct_V1_Document()
    first.id = "test/0"
    first.metadata = ["label": "Ankle boot"]
    first.input.shape = [1, 2, 2]
    first.input.float32Le = Data(littleEndianBytes([1, 2, 3, 4]))
    var second = Bct_V1_Document()
    second.id = "été/✓"
    second.embedding.modelVersion = "v1"
    second.embedding.values = [0.6, -0.8, 0]
    var request = Bct_V1_UpsertRequest()
    request.documents = [first, second]
    request.modelVersion = "v1"
    return request
  }

  static var searchResponse: Bct_V1_SearchResponse {
    var best = Bct_V1_SearchHit()
    best.id = "doc-9"
    best.score = 0.875
    best.documentVersion = "v1"
    best.metadata = ["label": "7"]
    var next = Bct_V1_SearchHit()
    next.id = "doc-3"
    next.score = -0.125
    next.documentVersion = "v2"
    var first = Bct_V1_SearchResult()
    first.hits = [best, next]
    var response = Bct_V1_SearchResponse()
    response.queryModelVersion = "v2"
    response.results = [first, Bct_V1_SearchResult()]
    response.documentVersions = ["v1", "v2"]
    return response
  }

  static var listModelsResponse: Bct_V1_ListModelsResponse {
    var model = Bct_V1_ModelInfo()
    model.version = "v2"
    model.architecture = "cnn"
    model.architectureParameters = ["channels": "32,64"]
    model.inputShape = [1, 28, 28]
    model.inputNormalization.scale = 1.0 / 255.0
    model.inputNormalization.mean = 0.2860
    model.inputNormalization.std = 0.3530
    model.embeddingDim = 128
    model.headFingerprint = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
    model.numClasses = 10
    model.lineage = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    model.parentVersion = "v1"
    model.compatibleWith = ["v1", "v2"]
    var evaluation = Bct_V1_EvaluationResult()
    evaluation.queryVersion = "v2"
    evaluation.galleryVersion = "v1"
    evaluation.top1 = 0.842
    evaluation.top5 = 0.951
    evaluation.meanAveragePrecision = 0.774
    evaluation.dataset = "fashion-mnist/test"
    model.evaluations = [evaluation]
    model.isDefault = true
    model.training.dataset = "fashion-mnist"
    model.training.seed = 42
    model.training.classes = [0, 1, 2, 3, 4]
    model.training.fraction = 0.5
    model.training.compatibilityObjective = "influence"
    model.training.epochs = 5
    var response = Bct_V1_ListModelsResponse()
    response.models = [model]
    response.defaultVersion = "v2"
    return response
  }

  static var backfillProgress: Bct_V1_BackfillProgress {
    var progress = Bct_V1_BackfillProgress()
    progress.targetVersion = "v2"
    progress.state = .running
    progress.done = 4096
    progress.total = 10000
    progress.documentsPerSecond = 1523.5
    progress.etaSeconds = 3.875
    progress.skipped = 3
    progress.message = "batch 17 of 40"
    return progress
  }

  static func littleEndianBytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { value in
      withUnsafeBytes(of: value.bitPattern.littleEndian) { Array($0) }
    }
  }
}
