#ifndef CHNSW_H
#define CHNSW_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// An HNSW graph over inner product (Debian's hnswlib, header-only C++), reached
/// from Swift through this C surface. Labels are the caller's slot numbers.
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

/// Nodes the graph holds (deleted ones included), and its room.
size_t chnsw_count(const chnsw_graph *graph);
size_t chnsw_capacity(const chnsw_graph *graph);

/// Nodes marked deleted.
size_t chnsw_deleted_count(const chnsw_graph *graph);

/// Bytes the graph allocated: the level-0 block (links, vectors, labels) and the
/// upper levels' link lists.
size_t chnsw_memory_bytes(const chnsw_graph *graph);

#ifdef __cplusplus
}
#endif

#endif
