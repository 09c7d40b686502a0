#include <stdlib.h>

#include "bct_proto_c.h"

static size_t pack(const ProtobufCMessage *message, uint8_t **out) {
  size_t length = protobuf_c_message_get_packed_size(message);
  *out = malloc(length > 0 ? length : 1);
  return protobuf_c_message_pack(message, *out);
}

size_t bct_c_pack_embed_request(uint8_t **out) {
  int64_t shape[] = {2, 1, 2, 2};
  float values[] = {0, 1, 2, 3, 255, 254.5f, -1, 0.25f};
  Bct__V1__Tensor inputs = BCT__V1__TENSOR__INIT;
  inputs.n_shape = 4;
  inputs.shape = shape;
  inputs.n_values = 8;
  inputs.values = values;
  Bct__V1__EmbedRequest request = BCT__V1__EMBED_REQUEST__INIT;
  request.model_version = "v2";
  request.inputs = &inputs;
  request.normalization = BCT__V1__NORMALIZATION__NORMALIZATION_NONE;
  return pack(&request.base, out);
}

size_t bct_c_pack_upsert_request(uint8_t **out) {
  int64_t input_shape[] = {1, 2, 2};
  uint8_t raw[] = {0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64}; /* 1,2,3,4 LE */
  Bct__V1__Tensor input = BCT__V1__TENSOR__INIT;
  input.n_shape = 3;
  input.shape = input_shape;
  input.float32_le.len = sizeof raw;
  input.float32_le.data = raw;

  Bct__V1__Document__MetadataEntry label = BCT__V1__DOCUMENT__METADATA_ENTRY__INIT;
  label.key = "label";
  label.value = "Ankle boot";
  Bct__V1__Document__MetadataEntry *metadata[] = {&label};
  Bct__V1__Document first = BCT__V1__DOCUMENT__INIT;
  first.id = "test/0";
  first.n_metadata = 1;
  first.metadata = metadata;
  first.input = &input;

  float vector[] = {0.6f, -0.8f, 0};
  Bct__V1__Embedding embedding = BCT__V1__EMBEDDING__INIT;
  embedding.model_version = "v1";
  embedding.n_values = 3;
  embedding.values = vector;
  Bct__V1__Document second = BCT__V1__DOCUMENT__INIT;
  second.id = "\xc3\xa9t\xc3\xa9/\xe2\x9c\x93"; /* "été/✓" */
  second.embedding = &embedding;

  Bct__V1__Document *documents[] = {&first, &second};
  Bct__V1__UpsertRequest request = BCT__V1__UPSERT_REQUEST__INIT;
  request.n_documents = 2;
  request.documents = documents;
  request.model_version = "v1";
  return pack(&request.base, out);
}

size_t bct_c_pack_search_response(uint8_t **out) {
  Bct__V1__SearchHit__MetadataEntry label = BCT__V1__SEARCH_HIT__METADATA_ENTRY__INIT;
  label.key = "label";
  label.value = "7";
  Bct__V1__SearchHit__MetadataEntry *metadata[] = {&label};
  Bct__V1__SearchHit best = BCT__V1__SEARCH_HIT__INIT;
  best.id = "doc-9";
  best.score = 0.875f;
  best.document_version = "v1";
  best.n_metadata = 1;
  best.metadata = metadata;
  Bct__V1__SearchHit next = BCT__V1__SEARCH_HIT__INIT;
  next.id = "doc-3";
  next.score = -0.125f;
  next.document_version = "v2";
  Bct__V1__SearchHit *hits[] = {&best, &next};
  Bct__V1__SearchResult first = BCT__V1__SEARCH_RESULT__INIT;
  first.n_hits = 2;
  first.hits = hits;
  Bct__V1__SearchResult empty = BCT__V1__SEARCH_RESULT__INIT;
  Bct__V1__SearchResult *results[] = {&first, &empty};
  char *versions[] = {"v1", "v2"};
  Bct__V1__SearchResponse response = BCT__V1__SEARCH_RESPONSE__INIT;
  response.query_model_version = "v2";
  response.n_results = 2;
  response.results = results;
  response.n_document_versions = 2;
  response.document_versions = versions;
  return pack(&response.base, out);
}

size_t bct_c_pack_list_models_response(uint8_t **out) {
  int64_t input_shape[] = {1, 28, 28};
  Bct__V1__InputNormalization normalization = BCT__V1__INPUT_NORMALIZATION__INIT;
  normalization.scale = 1.0f / 255.0f;
  normalization.mean = 0.2860f;
  normalization.std = 0.3530f;
  Bct__V1__EvaluationResult evaluation = BCT__V1__EVALUATION_RESULT__INIT;
  evaluation.query_version = "v2";
  evaluation.gallery_version = "v1";
  evaluation.top1 = 0.842;
  evaluation.top5 = 0.951;
  evaluation.mean_average_precision = 0.774;
  evaluation.dataset = "fashion-mnist/test";
  Bct__V1__EvaluationResult *evaluations[] = {&evaluation};
  int32_t classes[] = {0, 1, 2, 3, 4};
  Bct__V1__TrainingInfo training = BCT__V1__TRAINING_INFO__INIT;
  training.dataset = "fashion-mnist";
  training.seed = 42;
  training.n_classes = 5;
  training.classes = classes;
  training.fraction = 0.5;
  training.compatibility_objective = "influence";
  training.epochs = 5;
  Bct__V1__ModelInfo__ArchitectureParametersEntry hidden =
      BCT__V1__MODEL_INFO__ARCHITECTURE_PARAMETERS_ENTRY__INIT;
  hidden.key = "channels";
  hidden.value = "32,64";
  Bct__V1__ModelInfo__ArchitectureParametersEntry *parameters[] = {&hidden};
  char *compatible[] = {"v1", "v2"};
  Bct__V1__ModelInfo model = BCT__V1__MODEL_INFO__INIT;
  model.version = "v2";
  model.architecture = "cnn";
  model.n_architecture_parameters = 1;
  model.architecture_parameters = parameters;
  model.n_input_shape = 3;
  model.input_shape = input_shape;
  model.input_normalization = &normalization;
  model.embedding_dim = 128;
  model.head_fingerprint = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
  model.num_classes = 10;
  model.lineage = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae";
  model.parent_version = "v1";
  model.n_compatible_with = 2;
  model.compatible_with = compatible;
  model.n_evaluations = 1;
  model.evaluations = evaluations;
  model.is_default = 1;
  model.training = &training;
  Bct__V1__ModelInfo *models[] = {&model};
  Bct__V1__ListModelsResponse response = BCT__V1__LIST_MODELS_RESPONSE__INIT;
  response.n_models = 1;
  response.models = models;
  response.default_version = "v2";
  return pack(&response.base, out);
}

size_t bct_c_pack_backfill_progress(uint8_t **out) {
  Bct__V1__BackfillProgress progress = BCT__V1__BACKFILL_PROGRESS__INIT;
  progress.target_version = "v2";
  progress.state = BCT__V1__BACKFILL_STATE__BACKFILL_STATE_RUNNING;
  progress.done = 4096;
  progress.total = 10000;
  progress.documents_per_second = 1523.5;
  progress.eta_seconds = 3.875;
  progress.skipped = 3;
  progress.message = "batch 17 of 40";
  return pack(&progress.base, out);
}
