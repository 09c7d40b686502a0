#ifndef BCT_PROTO_C_H
#define BCT_PROTO_C_H

#include <stddef.h>
#include <stdint.h>

#include "bct/v1/tensor.pb-c.h"
#include "bct/v1/encoder.pb-c.h"
#include "bct/v1/retrieval.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"

/* Representative bct.v1 messages built and packed by protobuf-c. Each returns the
 * packed length and stores a malloc'd buffer in *out (free it with free()).
 * The values are spelled out in samples.c; the Swift tests build the same messages
 * with swift-protobuf and compare. */
size_t bct_c_pack_embed_request(uint8_t **out);
size_t bct_c_pack_upsert_request(uint8_t **out);
size_t bct_c_pack_search_response(uint8_t **out);
size_t bct_c_pack_list_models_response(uint8_t **out);
size_t bct_c_pack_backfill_progress(uint8_t **out);

/* The descriptor of a request message by full name (e.g. "bct.v1.UpsertRequest"),
 * or NULL; see descriptors.c. */
const ProtobufCMessageDescriptor *bct_c_message_descriptor(const char *full_name);

#endif
