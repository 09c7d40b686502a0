// The C surface of chnsw.h over hnswlib's HierarchicalNSW<float> with an inner-product space.
#include "chnsw.h"

#include <hnswlib/hnswlib.h>
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <queue>
#include <stdexcept>
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
  // Per node of room: the level-0 element, its link-list pointer, level and lock,
  // and one visited-list slot (2 bytes); per label, a hash-map node and bucket.
  size_t bytes = index.max_elements_ * (index.size_data_per_element_ + sizeof(void *) + sizeof(int) + sizeof(std::mutex) +
                                        sizeof(hnswlib::vl_type));
  bytes += index.label_lookup_.bucket_count() * sizeof(void *) + index.label_lookup_.size() * 32;
  bytes += index.link_list_update_locks_.size() * sizeof(std::mutex);
  for (size_t i = 0; i < index.cur_element_count; i++) {
    if (index.element_levels_[i] > 0) bytes += index.size_links_per_element_ * index.element_levels_[i];
  }
  return bytes;
}

const float *chnsw_vector(const chnsw_graph *graph, uint64_t label) {
  const auto &index = graph->index;
  auto found = index.label_lookup_.find(static_cast<hnswlib::labeltype>(label));
  if (found == index.label_lookup_.end() || index.isMarkedDeleted(found->second)) return nullptr;
  return reinterpret_cast<const float *>(index.getDataByInternalId(found->second));
}

}  // extern "C"

namespace {
using Index = hnswlib::HierarchicalNSW<float>;

// A graph with the settings of `source` and room for `capacity` nodes, empty.
chnsw_graph *empty_like(size_t dimension, size_t m, size_t ef_construction, size_t seed, size_t capacity) {
  return new chnsw_graph(dimension, std::max<size_t>(capacity, 1), m, ef_construction, seed);
}

// Copies node i's upper-level link lists (levels 1...element_levels_[i]) from `bytes`.
void set_upper_links(Index &index, size_t i, const char *bytes) {
  int level = index.element_levels_[i];
  if (level <= 0) {
    index.linkLists_[i] = nullptr;
    return;
  }
  size_t size = index.size_links_per_element_ * static_cast<size_t>(level);
  index.linkLists_[i] = static_cast<char *>(std::malloc(size));
  if (index.linkLists_[i] == nullptr) throw std::runtime_error("out of memory for upper-level links");
  std::memcpy(index.linkLists_[i], bytes, size);
}

// Registers every node's label and counts deleted nodes; false on a repeated label.
bool index_labels(Index &index) {
  index.label_lookup_.reserve(index.cur_element_count);
  index.num_deleted_ = 0;
  for (size_t i = 0; i < index.cur_element_count; i++) {
    if (!index.label_lookup_.emplace(index.getExternalLabel(i), static_cast<hnswlib::tableint>(i)).second) return false;
    if (index.isMarkedDeleted(i)) index.num_deleted_++;
  }
  return true;
}

// Whether one link list holds at most `limit` links, each to a node below `count`
// that reaches level `level`.
bool links_valid(const Index &index, hnswlib::linklistsizeint *list, size_t limit, int level) {
  size_t size = index.getListCount(list);
  if (size > limit) return false;
  auto *links = reinterpret_cast<const hnswlib::tableint *>(list + 1);
  for (size_t j = 0; j < size; j++) {
    if (links[j] >= index.cur_element_count || index.element_levels_[links[j]] < level) return false;
  }
  return true;
}

// Why the loaded graph cannot be searched safely, or nullptr.
const char *structure_problem(const Index &index) {
  size_t n = index.cur_element_count;
  if (n == 0) return index.maxlevel_ == -1 ? nullptr : "an empty graph with levels";
  if (index.enterpoint_node_ >= n) return "entry point out of range";
  if (index.maxlevel_ < 0 || index.element_levels_[index.enterpoint_node_] != index.maxlevel_) return "entry point not on the top level";
  for (size_t i = 0; i < n; i++) {
    int level = index.element_levels_[i];
    if (level < 0 || level > index.maxlevel_) return "a node level out of range";
    if (!links_valid(index, index.get_linklist0(i), index.maxM0_, 0)) return "a level-0 link list out of range";
    for (int l = 1; l <= level; l++) {
      if (!links_valid(index, index.get_linklist(i, l), index.maxM_, l)) return "an upper link list out of range";
    }
  }
  return nullptr;
}

// Reads a serialised graph from a byte range, bounds-checked.
struct Reader {
  const char *at;
  const char *end;
  template <typename T>
  T pod() {
    T value;
    bytes(&value, sizeof(T));
    return value;
  }
  const char *take(size_t n) {
    if (static_cast<size_t>(end - at) < n) throw std::runtime_error("the graph file is truncated");
    const char *start = at;
    at += n;
    return start;
  }
  void bytes(void *out, size_t n) { std::memcpy(out, take(n), n); }
};

const char graph_magic[8] = {'C', 'H', 'N', 'S', 'W', '0', '0', '1'};
}  // namespace

extern "C" {

chnsw_graph *chnsw_clone(const chnsw_graph *graph, size_t capacity, char *error, size_t error_length) {
  const Index &from = graph->index;
  chnsw_graph *copy = nullptr;
  try {
    size_t n = from.cur_element_count;
    copy = empty_like(*static_cast<size_t *>(from.dist_func_param_), from.M_, from.ef_construction_, 0, std::max(capacity, n));
    Index &to = copy->index;
    std::memcpy(to.data_level0_memory_, from.data_level0_memory_, n * from.size_data_per_element_);
    for (size_t i = 0; i < n; i++) {
      to.element_levels_[i] = from.element_levels_[i];
      set_upper_links(to, i, from.element_levels_[i] > 0 ? from.linkLists_[i] : nullptr);
      to.cur_element_count = i + 1;
    }
    to.label_lookup_ = from.label_lookup_;
    to.num_deleted_ = from.num_deleted_;
    to.maxlevel_ = from.maxlevel_;
    to.enterpoint_node_ = from.enterpoint_node_;
    to.level_generator_ = from.level_generator_;
    to.update_probability_generator_ = from.update_probability_generator_;
    return copy;
  } catch (const std::exception &e) {
    delete copy;
    report(e, error, error_length);
    return nullptr;
  }
}

int chnsw_serialize(const chnsw_graph *graph, chnsw_sink sink, void *context) {
  const Index &index = graph->index;
  uint64_t header[8] = {*static_cast<size_t *>(index.dist_func_param_), index.M_, index.maxM0_, index.ef_construction_,
                        index.cur_element_count, static_cast<uint64_t>(static_cast<int64_t>(index.maxlevel_)),
                        index.enterpoint_node_, index.size_data_per_element_};
  if (int failed = sink(context, graph_magic, sizeof(graph_magic))) return failed;
  if (int failed = sink(context, header, sizeof(header))) return failed;
  size_t n = index.cur_element_count;
  if (int failed = sink(context, index.data_level0_memory_, n * index.size_data_per_element_)) return failed;
  if (int failed = sink(context, index.element_levels_.data(), n * sizeof(int))) return failed;
  for (size_t i = 0; i < n; i++) {
    if (index.element_levels_[i] <= 0) continue;
    size_t size = index.size_links_per_element_ * static_cast<size_t>(index.element_levels_[i]);
    if (int failed = sink(context, index.linkLists_[i], size)) return failed;
  }
  return 0;
}

chnsw_graph *chnsw_deserialize(const void *bytes, size_t length, size_t dimension, size_t m, size_t ef_construction,
                               size_t seed, size_t capacity, char *error, size_t error_length) {
  chnsw_graph *graph = nullptr;
  try {
    Reader reader{static_cast<const char *>(bytes), static_cast<const char *>(bytes) + length};
    if (std::memcmp(reader.take(sizeof(graph_magic)), graph_magic, sizeof(graph_magic)) != 0) {
      throw std::runtime_error("not a serialised graph");
    }
    uint64_t header[8];
    reader.bytes(header, sizeof(header));
    if (header[0] != dimension || header[1] != m || header[2] != 2 * m) throw std::runtime_error("saved for another dimension or M");
    uint64_t n = header[4];
    int64_t max_level = static_cast<int64_t>(header[5]);
    graph = empty_like(dimension, m, ef_construction, seed + n, 1);
    if (header[7] != graph->index.size_data_per_element_) throw std::runtime_error("another node layout");
    if (n > length / header[7] || max_level < -1 || max_level > 64) throw std::runtime_error("counts out of range");
    delete graph;
    graph = empty_like(dimension, m, ef_construction, seed + n, std::max<size_t>(capacity, n));
    Index &index = graph->index;
    reader.bytes(index.data_level0_memory_, n * index.size_data_per_element_);
    reader.bytes(index.element_levels_.data(), n * sizeof(int));
    index.maxlevel_ = static_cast<int>(max_level);
    index.enterpoint_node_ = static_cast<hnswlib::tableint>(header[6]);
    for (size_t i = 0; i < n; i++) {
      if (index.element_levels_[i] < 0 || index.element_levels_[i] > index.maxlevel_) {
        throw std::runtime_error("a node level out of range");
      }
      size_t size = index.size_links_per_element_ * static_cast<size_t>(std::max(index.element_levels_[i], 0));
      set_upper_links(index, i, size > 0 ? reader.take(size) : nullptr);
      index.cur_element_count = i + 1;
    }
    if (reader.at != reader.end) throw std::runtime_error("bytes after the graph");
    if (const char *problem = structure_problem(index)) throw std::runtime_error(problem);
    if (!index_labels(index)) throw std::runtime_error("a label held by two nodes");
    return graph;
  } catch (const std::exception &e) {
    delete graph;
    report(e, error, error_length);
    return nullptr;
  }
}

}  // extern "C"
