// The C surface of chnsw.h over hnswlib's HierarchicalNSW<float> with InnerProductSpace.
#include "chnsw.h"

#include <hnswlib/hnswlib.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <queue>
#include <vector>

struct chnsw_graph {
  hnswlib::InnerProductSpace space;
  hnswlib::HierarchicalNSW<float> index;

  chnsw_graph(size_t dimension, size_t capacity, size_t m, size_t ef_construction, size_t seed)
      : space(dimension), index(&space, capacity, m, ef_construction, seed) {}
};

namespace {
void report(const std::exception &e, char *error, size_t length) {
  if (error != nullptr && length > 0) {
    std::strncpy(error, e.what(), length - 1);
    error[length - 1] = '\0';
  }
}
}  // namespace

extern "C" {

chnsw_graph *chnsw_create(size_t dimension, size_t capacity, size_t m, size_t ef_construction, size_t seed,
                          char *error, size_t error_length) {
  try {
    return new chnsw_graph(dimension, std::max<size_t>(capacity, 1), m, ef_construction, seed);
  } catch (const std::exception &e) {
    report(e, error, error_length);
    return nullptr;
  }
}

void chnsw_free(chnsw_graph *graph) { delete graph; }

int chnsw_reserve(chnsw_graph *graph, size_t capacity, char *error, size_t error_length) {
  try {
    if (capacity > graph->index.max_elements_) graph->index.resizeIndex(capacity);
    return 0;
  } catch (const std::exception &e) {
    report(e, error, error_length);
    return 1;
  }
}

int chnsw_add(chnsw_graph *graph, const float *vector, uint64_t label, char *error, size_t error_length) {
  try {
    graph->index.addPoint(vector, static_cast<hnswlib::labeltype>(label));
    return 0;
  } catch (const std::exception &e) {
    report(e, error, error_length);
    return 1;
  }
}

int chnsw_mark_deleted(chnsw_graph *graph, uint64_t label) {
  auto &index = graph->index;
  std::unique_lock<std::mutex> lock(index.cur_element_count_guard_);
  auto found = index.label_lookup_.find(static_cast<hnswlib::labeltype>(label));
  if (found == index.label_lookup_.end()) return 1;
  hnswlib::tableint internal = found->second;
  lock.unlock();
  if (index.isMarkedDeleted(internal)) return 1;
  index.markDeletedInternal(internal);
  return 0;
}

// Greedy descent through the upper levels, then a best-first search of level 0
// with `ef` candidates. The same walk as HierarchicalNSW::searchKnn, with the
// candidate count passed in rather than read from the shared ef_ member, so that
// requests with different ef can run at once.
size_t chnsw_search(const chnsw_graph *graph, const float *query, size_t k, size_t ef, uint64_t *labels,
                    float *scores) {
  const auto &index = graph->index;
  if (index.cur_element_count == 0 || k == 0) return 0;
  hnswlib::tableint current = index.enterpoint_node_;
  float best = index.fstdistfunc_(query, index.getDataByInternalId(current), index.dist_func_param_);
  for (int level = index.maxlevel_; level > 0; level--) {
    bool moved = true;
    while (moved) {
      moved = false;
      auto *links = reinterpret_cast<unsigned int *>(index.get_linklist(current, level));
      int size = index.getListCount(links);
      auto *neighbours = reinterpret_cast<hnswlib::tableint *>(links + 1);
      for (int i = 0; i < size; i++) {
        float distance = index.fstdistfunc_(query, index.getDataByInternalId(neighbours[i]), index.dist_func_param_);
        if (distance < best) {
          best = distance;
          current = neighbours[i];
          moved = true;
        }
      }
    }
  }
  size_t candidates = std::max(ef, k);
  auto found = index.num_deleted_ > 0 ? index.searchBaseLayerST<true, false>(current, query, candidates)
                                      : index.searchBaseLayerST<false, false>(current, query, candidates);
  while (found.size() > k) found.pop();
  size_t n = found.size();
  // The queue pops the farthest first: fill from the back so the best comes first.
  for (size_t i = n; i > 0; i--) {
    labels[i - 1] = index.getExternalLabel(found.top().second);
    scores[i - 1] = 1.0f - found.top().first;
    found.pop();
  }
  return n;
}

size_t chnsw_count(const chnsw_graph *graph) { return graph->index.cur_element_count; }

size_t chnsw_capacity(const chnsw_graph *graph) { return graph->index.max_elements_; }

size_t chnsw_deleted_count(const chnsw_graph *graph) { return graph->index.num_deleted_; }

size_t chnsw_memory_bytes(const chnsw_graph *graph) {
  const auto &index = graph->index;
  size_t bytes = index.max_elements_ * index.size_data_per_element_ + index.max_elements_ * sizeof(void *);
  for (size_t i = 0; i < index.cur_element_count; i++) {
    if (index.element_levels_[i] > 0) bytes += index.size_links_per_element_ * index.element_levels_[i];
  }
  return bytes;
}

}  // extern "C"
