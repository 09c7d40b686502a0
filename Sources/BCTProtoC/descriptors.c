#include <string.h>
#include "bct_proto_c.h"

/* The request messages of every RPC, by full name, for the schema fuzzer. */
const ProtobufCMessageDescriptor *bct_c_message_descriptor(const char *full_name) {
  static const ProtobufCMessageDescriptor *const all[] = {
    &bct__v1__embed_request__descriptor,
    &bct__v1__list_models_request__descriptor,
    &bct__v1__upsert_request__descriptor,
    &bct__v1__delete_request__descriptor,
    &bct__v1__search_request__descriptor,
    &bct__v1__backfill_request__descriptor,
    &bct__v1__stats_request__descriptor,
    &bct__v1__get_request__descriptor,
    &bct__v1__list_request__descriptor,
    &bct__v1__create_collection_request__descriptor,
    &bct__v1__drop_collection_request__descriptor,
    &bct__v1__list_collections_request__descriptor,
    &grpc__health__v1__health_check_request__descriptor,
  };
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
    if (strcmp(all[i]->name, full_name) == 0) return all[i];
  }
  return NULL;
}
