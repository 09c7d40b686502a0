// The C surface of chnsw.h over hnswlib's HierarchicalNSW<float> with an inner-product space.
#include "chnsw.h"

#include <hnswlib/hnswlib.h>
#include <immintrin.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <memory>
#include <queue>
#include <vector>

namespace {
// hnswlib's inner-product distance, 1 - <a, b>, with the widest SIMD this CPU
// runs, chosen at run time (the rest of the target is built for AVX only, so the
// library still runs on CPUs without AVX-512).
float ip_distance_scalar(const void *a, const void *b, const void *param) {
  size_t d = *static_cast<const size_t *>(param);
  auto *x = static_cast<const float *>(a), *y = static_cast<const float *>(b);
  float sum = 0;
  for (size_t i = 0; i < d; i++) sum += x[i] * y[i];
  return 1.0f - sum;
}

__attribute__((target("avx2,fma"))) float ip_distance_avx2(const void *a, const void *b, const void *param) {
  size_t d = *static_cast<const size_t *>(param);
  auto *x = static_cast<const float *>(a), *y = static_cast<const float *>(b);
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
    s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), s1);
  }
  for (; i + 8 <= d; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), s0);
  __m256 s = _mm256_add_ps(s0, s1);
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  float sum = _mm_cvtss_f32(h);
  for (; i < d; i++) sum += x[i] * y[i];
  return 1.0f - sum;
}

__attribute__((target("avx512f"))) float ip_distance_avx512(const void *a, const void *b, const void *param) {
  size_t d = *static_cast<const size_t *>(param);
  auto *x = static_cast<const float *>(a), *y = static_cast<const float *>(b);
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= d; i += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), s1);
  }
  for (; i + 16 <= d; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), s0);
  if (i < d) {
    __mmask16 tail = static_cast<__mmask16>((1u << (d - i)) - 1);
    s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, x + i), _mm512_maskz_loadu_ps(tail, y + i), s1);
  }
  return 1.0f - _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}

hnswlib::DISTFUNC<float> best_ip_distance() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return ip_distance_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ip_distance_avx2;
  return ip_distance_scalar;
}

class InnerProductDistance : public hnswlib::SpaceInterface<float> {
 public:
  explicit InnerProductDistance(size_t dimension) : dimension_(dimension), distance_(best_ip_distance()) {}
  size_t get_data_size() override { return dimension_ * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return distance_; }
  void *get_dist_func_param() override { return &dimension_; }

 private:
  size_t dimension_;
  hnswlib::DISTFUNC<float> distance_;
};
}  // namespace

struct chnsw_graph {
  InnerProductDistance space;
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

}  // extern "C"

namespace {
// Greedy descent through the upper levels from the entry point: the level-0 node
// nearest to `query` that the upper levels lead to.
hnswlib::tableint descend(const hnswlib::HierarchicalNSW<float> &index, const float *query) {
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
  return current;
}

using Scored = std::pair<float, hnswlib::tableint>;
using Farthest = std::priority_queue<Scored>;

// Writes the best `k` of `found` (a max-heap by distance) into labels/scores, best first.
template <typename Queue>
size_t emit(const hnswlib::HierarchicalNSW<float> &index, Queue &found, size_t k, uint64_t *labels, float *scores) {
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

// Best-first search of level 0 keeping the `ef` nearest nodes that pass `allow` (and
// are not deleted). Every node routes, passing or not, as in hnswlib 0.7's filtered
// search and Faiss's IDSelector: with few passing nodes the walk widens until it
// has ef of them or the graph is exhausted, which is why selective filters are
// answered by an exact scan instead (see HNSWIndex).
template <typename Allow>
Farthest filtered_level0(const hnswlib::HierarchicalNSW<float> &index, hnswlib::tableint entry, const float *query,
                         size_t ef, Allow allow) {
  hnswlib::VisitedList *visited_list = index.visited_list_pool_->getFreeVisitedList();
  hnswlib::vl_type *visited = visited_list->mass;
  hnswlib::vl_type tag = visited_list->curV;
  auto passes = [&](hnswlib::tableint node) {
    return !index.isMarkedDeleted(node) && allow(index.getExternalLabel(node));
  };
  Farthest results;
  std::priority_queue<Scored, std::vector<Scored>, std::greater<Scored>> frontier;
  float distance = index.fstdistfunc_(query, index.getDataByInternalId(entry), index.dist_func_param_);
  frontier.emplace(distance, entry);
  visited[entry] = tag;
  if (passes(entry)) results.emplace(distance, entry);
  while (!frontier.empty()) {
    Scored nearest = frontier.top();
    if (results.size() >= ef && nearest.first > results.top().first) break;
    frontier.pop();
    auto *links = reinterpret_cast<unsigned int *>(index.get_linklist0(nearest.second));
    int size = index.getListCount(links);
    auto *neighbours = reinterpret_cast<hnswlib::tableint *>(links + 1);
    for (int i = 0; i < size; i++) {
      hnswlib::tableint node = neighbours[i];
      if (visited[node] == tag) continue;
      visited[node] = tag;
      float d = index.fstdistfunc_(query, index.getDataByInternalId(node), index.dist_func_param_);
      if (results.size() >= ef && d >= results.top().first) continue;
      frontier.emplace(d, node);
      if (!passes(node)) continue;
      results.emplace(d, node);
      if (results.size() > ef) results.pop();
    }
  }
  index.visited_list_pool_->releaseVisitedList(visited_list);
  return results;
}
}  // namespace

extern "C" {

// The walk of HierarchicalNSW::searchKnn, with the candidate count passed in rather
// than read from the shared ef_ member, so that requests with different ef can run
// at once.
size_t chnsw_search(const chnsw_graph *graph, const float *query, size_t k, size_t ef, uint64_t *labels,
                    float *scores) {
  const auto &index = graph->index;
  if (index.cur_element_count == 0 || k == 0) return 0;
  hnswlib::tableint current = descend(index, query);
  size_t candidates = std::max(ef, k);
  auto found = index.num_deleted_ > 0 ? index.searchBaseLayerST<true, false>(current, query, candidates)
                                      : index.searchBaseLayerST<false, false>(current, query, candidates);
  return emit(index, found, k, labels, scores);
}

size_t chnsw_search_filtered(const chnsw_graph *graph, const float *query, size_t k, size_t ef, chnsw_allow allow,
                             void *context, uint64_t *labels, float *scores) {
  const auto &index = graph->index;
  if (index.cur_element_count == 0 || k == 0) return 0;
  hnswlib::tableint current = descend(index, query);
  auto found = filtered_level0(index, current, query, std::max(ef, k),
                               [&](hnswlib::labeltype label) { return allow(context, label) != 0; });
  return emit(index, found, k, labels, scores);
}

size_t chnsw_search_keyed(const chnsw_graph *graph, const float *query, size_t k, size_t ef, const int64_t *keys,
                          size_t key_count, const uint64_t *bits, size_t words, uint64_t *labels, float *scores) {
  const auto &index = graph->index;
  if (index.cur_element_count == 0 || k == 0) return 0;
  hnswlib::tableint current = descend(index, query);
  auto found = filtered_level0(index, current, query, std::max(ef, k), [&](hnswlib::labeltype label) {
    if (label >= key_count) return false;
    int64_t key = keys[label];
    return key >= 0 && static_cast<size_t>(key >> 6) < words && ((bits[key >> 6] >> (key & 63)) & 1) != 0;
  });
  return emit(index, found, k, labels, scores);
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
