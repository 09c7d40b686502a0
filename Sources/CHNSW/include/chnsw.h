#ifndef CHNSW_H
#define CHNSW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// bct's HNSW graph over inner product (hnsw.cpp), reached from Swift through this
/// C surface. Labels are the caller's slot numbers and are the graph's node numbers:
/// they must stay below the room `chnsw_reserve` made.
typedef struct chnsw_graph chnsw_graph;

/// A graph of `dimension`-long vectors with room for `capacity` nodes; NULL on
/// failure, with a message in `error` (of `error_length` bytes).
chnsw_graph *chnsw_create(size_t dimension, size_t capacity, size_t m, size_t ef_construction, size_t seed,
                          char *error, size_t error_length);

/// Frees the graph.
void chnsw_free(chnsw_graph *graph);

/// Grows room to `capacity` nodes (never shrinks). Not concurrent with adds. 0 on success.
int chnsw_reserve(chnsw_graph *graph, size_t capacity, char *error, size_t error_length);

/// Inserts `vector` under `label`, or replaces the vector of a label already in the
/// graph (clearing its deleted mark) and relinks it. Safe to call from several
/// threads at once with distinct labels. 0 on success.
int chnsw_add(chnsw_graph *graph, const float *vector, uint64_t label, char *error, size_t error_length);

/// The level a new node under `label` gets (drawn from the seed and the label alone).
int chnsw_level_for(const chnsw_graph *graph, uint64_t label);

/// Marks `label` deleted: it is never returned, but stays a routing node until
/// replaced. 0 on success, 1 when the label is unknown or already deleted.
int chnsw_mark_deleted(chnsw_graph *graph, uint64_t label);

/// The `k` nearest labels to `query` by inner product (scores, best first), with a
/// candidate list of max(ef, k). Concurrent searches are safe. Returns how many.
size_t chnsw_search(const chnsw_graph *graph, const float *query, size_t k, size_t ef, uint64_t *labels,
                    float *scores);

/// Whether the node labelled `label` may be returned (nonzero: yes).
typedef int (*chnsw_allow)(void *context, uint64_t label);

/// As chnsw_search, returning only labels `allow` accepts; every node still routes.
/// `allow` is called from the calling thread only.
size_t chnsw_search_filtered(const chnsw_graph *graph, const float *query, size_t k, size_t ef, chnsw_allow allow,
                             void *context, uint64_t *labels, float *scores);

/// As chnsw_search, returning only labels whose key (`keys[label]`, `key_count` of
/// them) is set in the bitset `bits` (`words` 64-bit words; negative keys never pass).
size_t chnsw_search_keyed(const chnsw_graph *graph, const float *query, size_t k, size_t ef, const int64_t *keys,
                          size_t key_count, const uint64_t *bits, size_t words, uint64_t *labels, float *scores);

/// The stored vector of `label` (inside the graph; valid until the next add, reserve
/// or free), or NULL when the graph holds no such label. Not concurrent with adds.
const float *chnsw_vector(const chnsw_graph *graph, uint64_t label);

/// An independent copy of the graph (nodes, links, deleted marks, labels), with room
/// for `capacity` nodes (at least the node count); NULL on failure. Safe beside
/// searches, not beside adds.
chnsw_graph *chnsw_clone(const chnsw_graph *graph, size_t capacity, char *error, size_t error_length);

/// Receives `length` bytes of a serialised graph; returns 0 to go on.
typedef int (*chnsw_sink)(void *context, const void *bytes, size_t length);

/// Streams the graph to `sink`: a header (dimension, M, counts, entry point), the
/// level-0 block, each node's level, then the upper levels' link lists. Returns 0,
/// or the sink's nonzero answer. Not concurrent with adds.
int chnsw_serialize(const chnsw_graph *graph, chnsw_sink sink, void *context);

/// A graph read from `length` bytes that chnsw_serialize wrote for `dimension`-long
/// vectors and `m` links, with room for `capacity` nodes (at least its node count).
/// Every link, level, count and label is checked before the graph is returned; NULL
/// with a message in `error` when anything does not hold (the caller rebuilds).
chnsw_graph *chnsw_deserialize(const void *bytes, size_t length, size_t dimension, size_t m, size_t ef_construction,
                               size_t seed, size_t capacity, char *error, size_t error_length);

/// Nodes the graph holds (deleted ones included), and its room.
size_t chnsw_count(const chnsw_graph *graph);
size_t chnsw_capacity(const chnsw_graph *graph);

/// Nodes marked deleted.
size_t chnsw_deleted_count(const chnsw_graph *graph);

/// Bytes the graph holds: the level-0 block (link counts, links, vectors) for its
/// room, each node's level, flags and upper-links pointer, the upper levels' link
/// lists (as allocated), the striped locks and the searches' visited lists.
size_t chnsw_memory_bytes(const chnsw_graph *graph);

#ifdef __cplusplus
}
#endif

#endif
