// bct's HNSW graph over inner product: Malkov & Yashunin, "Efficient and robust
// approximate nearest neighbor search using Hierarchical Navigable Small World
// graphs" (TPAMI 2018), algorithms 1 (insert), 2 (search a layer), 4 (the neighbour
// heuristic) and 5 (search), written for a node layout that keeps per-vector memory
// at Faiss's: a node's number is the caller's label (no label map), node locks are
// striped (no lock per node), and a node costs its level-0 record (link count,
// 2M links, vector), a level byte, a flag byte and a pointer to its upper links.
#include "chnsw.h"

#include <immintrin.h>
#include <malloc.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <queue>
#include <stdexcept>
#include <vector>

namespace {
// The inner-product distance 1 - <a, b>, with the widest SIMD this CPU runs, chosen
// at run time (the target is built for AVX only, so it still runs without AVX-512).
float ip_distance_scalar(const float *x, const float *y, size_t d) {
  float sum = 0;
  for (size_t i = 0; i < d; i++) sum += x[i] * y[i];
  return 1.0f - sum;
}

__attribute__((target("avx2,fma"))) float ip_distance_avx2(const float *x, const float *y, size_t d) {
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

__attribute__((target("avx512f"))) float ip_distance_avx512(const float *x, const float *y, size_t d) {
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

using DistanceFunction = float (*)(const float *, const float *, size_t);

DistanceFunction best_ip_distance() {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return ip_distance_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return ip_distance_avx2;
  return ip_distance_scalar;
}

using Node = uint32_t;
using Scored = std::pair<float, Node>;
using Farthest = std::priority_queue<Scored>;
using Nearest = std::priority_queue<Scored, std::vector<Scored>, std::greater<Scored>>;

constexpr size_t lock_stripes = 4096;
constexpr int max_level_allowed = 64;
constexpr uint8_t flag_present = 1, flag_deleted = 2;

// One search's visited marks: a node is visited when its tag equals `current`.
struct Visited {
  std::vector<uint16_t> tags;
  uint16_t current = 0;
};

uint64_t mix(uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}
}  // namespace

struct chnsw_graph {
  size_t dimension, m, max_m0, ef_construction;
  uint64_t seed;
  size_t links0_bytes;  // level 0: a count and 2M links
  size_t upper_words;   // one upper level: a count and M links, in 32-bit words
  size_t stride;        // one level-0 record: links, then the vector
  DistanceFunction distance = best_ip_distance();

  size_t capacity = 0;
  std::atomic<size_t> high{0};  // one past the largest node ever added
  std::atomic<size_t> present{0}, deleted{0};
  char *level0 = nullptr;
  int8_t *levels = nullptr;
  uint8_t *flags = nullptr;
  Node **upper = nullptr;

  std::mutex entry_lock;
  int max_level = -1;
  Node entry = 0;
  std::unique_ptr<std::mutex[]> locks{new std::mutex[lock_stripes]};
  std::mutex visited_lock;
  std::vector<std::unique_ptr<Visited>> visited_pool;

  chnsw_graph(size_t dimension, size_t m, size_t ef_construction, uint64_t seed)
      : dimension(dimension), m(m), max_m0(2 * m), ef_construction(ef_construction), seed(seed),
        links0_bytes(sizeof(Node) * (1 + 2 * m)), upper_words(1 + m),
        stride(links0_bytes + sizeof(float) * dimension) {}

  ~chnsw_graph() {
    for (size_t i = 0; i < high.load(); i++) std::free(upper[i]);
    std::free(level0);
    std::free(levels);
    std::free(flags);
    std::free(upper);
  }

  Node *links0(Node node) const { return reinterpret_cast<Node *>(level0 + node * stride); }
  Node *links(Node node, int level) const {
    return level == 0 ? links0(node) : upper[node] + (static_cast<size_t>(level) - 1) * upper_words;
  }
  size_t room(int level) const { return level == 0 ? max_m0 : m; }
  const float *vector(Node node) const { return reinterpret_cast<const float *>(level0 + node * stride + links0_bytes); }
  float between(const float *a, Node node) const { return distance(a, vector(node), dimension); }
  std::mutex &lock_of(Node node) const { return locks[node % lock_stripes]; }
  bool live(Node node) const { return flags[node] == flag_present; }

  // The level of a new node: floor(-ln(u) / ln(M)), u drawn from the seed and the
  // node's number, so that the same labels give the same levels in any insert order.
  int draw_level(Node node) const {
    double u = (static_cast<double>(mix(seed ^ mix(node)) >> 11) + 1.0) / 9007199254740993.0;
    double level = -std::log(u) / std::log(static_cast<double>(std::max<size_t>(m, 2)));
    return std::min(static_cast<int>(level), max_level_allowed - 1);
  }

  void grow(size_t room);
  Visited *acquire_visited();
  void release_visited(Visited *visited);
};

namespace {
template <typename T>
T *grown(T *old, size_t old_count, size_t count, int fill) {
  T *made = static_cast<T *>(std::realloc(old, count * sizeof(T)));
  if (made == nullptr) throw std::runtime_error("out of memory for the graph");
  std::memset(reinterpret_cast<char *>(made) + old_count * sizeof(T), fill, (count - old_count) * sizeof(T));
  return made;
}
}  // namespace

void chnsw_graph::grow(size_t room) {
  if (room <= capacity) return;
  if (room > UINT32_MAX) throw std::runtime_error("more nodes than 32-bit node numbers reach");
  char *block = static_cast<char *>(std::realloc(level0, room * stride));
  if (block == nullptr) throw std::runtime_error("out of memory for the graph's level 0");
  level0 = block;
  levels = grown(levels, capacity, room, 0xFF);
  flags = grown(flags, capacity, room, 0);
  upper = grown(upper, capacity, room, 0);
  capacity = room;
}

Visited *chnsw_graph::acquire_visited() {
  std::unique_ptr<Visited> taken;
  {
    std::lock_guard<std::mutex> guard(visited_lock);
    if (!visited_pool.empty()) {
      taken = std::move(visited_pool.back());
      visited_pool.pop_back();
    }
  }
  if (!taken) taken.reset(new Visited());
  if (taken->tags.size() < capacity) {
    taken->tags.assign(capacity, 0);
    taken->current = 0;
  }
  if (++taken->current == 0) {
    std::fill(taken->tags.begin(), taken->tags.end(), 0);
    taken->current = 1;
  }
  return taken.release();
}

void chnsw_graph::release_visited(Visited *visited) {
  std::lock_guard<std::mutex> guard(visited_lock);
  visited_pool.emplace_back(visited);
}

namespace {
// A node's links at `level` and their number. `Locked` copies them into `buffer`
// (room for 2M) under the node's lock, as inserts running in parallel need; else
// they are read in place.
template <bool Locked>
const Node *links_of(const chnsw_graph &g, Node node, int level, std::vector<Node> &buffer, size_t &size) {
  const Node *list = g.links(node, level);
  if (!Locked) {
    size = list[0];
    return list + 1;
  }
  std::lock_guard<std::mutex> guard(g.lock_of(node));
  size = list[0];
  std::memcpy(buffer.data(), list + 1, size * sizeof(Node));
  return buffer.data();
}

// Greedy descent from `current` through levels `top` down to `bottom` (exclusive):
// at each level, move to the nearest neighbour while one is nearer (algorithm 5).
template <bool Locked>
Node descend(const chnsw_graph &g, const float *query, Node current, int top, int bottom) {
  float best = g.between(query, current);
  std::vector<Node> buffer(Locked ? g.max_m0 : 0);
  for (int level = top; level > bottom; level--) {
    for (bool moved = true; moved;) {
      moved = false;
      size_t size;
      const Node *neighbours = links_of<Locked>(g, current, level, buffer, size);
      for (size_t i = 0; i < size; i++) {
        float distance = g.between(query, neighbours[i]);
        if (distance < best) best = distance, current = neighbours[i], moved = true;
      }
    }
  }
  return current;
}

// Best-first search of one level from `entry` keeping the `ef` nearest nodes that
// `keep` accepts (algorithm 2); every node routes, kept or not. `Locked` reads link
// lists under their locks, as inserts running in parallel need.
template <bool Locked, typename Keep>
Farthest search_level(const chnsw_graph &g, const float *query, Node entry, size_t ef, int level, Keep keep) {
  Visited *visited = const_cast<chnsw_graph &>(g).acquire_visited();
  uint16_t *tags = visited->tags.data();
  uint16_t tag = visited->current;
  std::vector<Node> buffer(Locked ? g.max_m0 : 0);
  Farthest results;
  Nearest frontier;
  float distance = g.between(query, entry);
  frontier.emplace(distance, entry);
  tags[entry] = tag;
  if (keep(entry)) results.emplace(distance, entry);
  while (!frontier.empty()) {
    Scored nearest = frontier.top();
    if (results.size() >= ef && nearest.first > results.top().first) break;
    frontier.pop();
    size_t size;
    const Node *neighbours = links_of<Locked>(g, nearest.second, level, buffer, size);
    for (size_t i = 0; i < size; i++) {
      Node node = neighbours[i];
      if (tags[node] == tag) continue;
      tags[node] = tag;
      float d = g.between(query, node);
      if (results.size() >= ef && d >= results.top().first) continue;
      frontier.emplace(d, node);
      if (!keep(node)) continue;
      results.emplace(d, node);
      if (results.size() > ef) results.pop();
    }
  }
  const_cast<chnsw_graph &>(g).release_visited(visited);
  return results;
}

// The paper's neighbour heuristic (algorithm 4, without extending or keeping pruned
// candidates): from the candidates, nearest first, keep one only when it is nearer
// to the base than to every one kept already; at most `limit`. Fewer candidates than
// `limit` are all kept.
std::vector<Scored> select_neighbours(const chnsw_graph &g, std::vector<Scored> candidates, size_t limit) {
  std::sort(candidates.begin(), candidates.end());
  if (candidates.size() <= limit) return candidates;
  std::vector<Scored> kept;
  for (const Scored &candidate : candidates) {
    if (kept.size() >= limit) break;
    const float *vector = g.vector(candidate.second);
    bool diverse = std::all_of(kept.begin(), kept.end(), [&](const Scored &other) {
      return g.between(vector, other.second) >= candidate.first;
    });
    if (diverse) kept.push_back(candidate);
  }
  return kept;
}

// Adds `node` to `neighbour`'s list at `level`; a full list is re-chosen by the
// heuristic among its links and the new one.
void link_back(chnsw_graph &g, Node neighbour, Node node, int level) {
  std::lock_guard<std::mutex> guard(g.lock_of(neighbour));
  Node *list = g.links(neighbour, level);
  size_t size = list[0], limit = g.room(level);
  if (std::find(list + 1, list + 1 + size, node) != list + 1 + size) return;
  if (size < limit) {
    list[1 + size] = node;
    list[0] = static_cast<Node>(size + 1);
    return;
  }
  const float *base = g.vector(neighbour);
  std::vector<Scored> candidates;
  candidates.reserve(size + 1);
  candidates.emplace_back(g.between(base, node), node);
  for (size_t i = 0; i < size; i++) candidates.emplace_back(g.between(base, list[1 + i]), list[1 + i]);
  std::vector<Scored> kept = select_neighbours(g, std::move(candidates), limit);
  for (size_t i = 0; i < kept.size(); i++) list[1 + i] = kept[i].second;
  list[0] = static_cast<Node>(kept.size());
}

// Links `node` (its vector and level already written) into levels min(level, top)
// down to 0, searching from `entry` (algorithm 1's second phase). Every level's
// neighbours are chosen and written into the node's own lists before any other node
// links to it: a parallel insert that reached the node early would otherwise start
// from its still empty lower lists, and the links it added there would be
// overwritten.
void connect(chnsw_graph &g, Node node, int level, Node entry, int top) {
  const float *vector = g.vector(node);
  Node current = top > level ? descend<true>(g, vector, entry, top, level) : entry;
  int highest = std::min(level, top);
  std::vector<std::vector<Scored>> chosen(static_cast<size_t>(highest) + 1);
  for (int l = highest; l >= 0; l--) {
    Farthest found = search_level<true>(g, vector, current, g.ef_construction, l, [&](Node other) { return other != node; });
    std::vector<Scored> candidates;
    candidates.reserve(found.size());
    for (; !found.empty(); found.pop()) candidates.push_back(found.top());
    if (candidates.empty()) continue;
    chosen[l] = select_neighbours(g, std::move(candidates), g.m);
    current = chosen[l].front().second;
  }
  {
    std::lock_guard<std::mutex> guard(g.lock_of(node));
    for (int l = highest; l >= 0; l--) {
      Node *list = g.links(node, l);
      for (size_t i = 0; i < chosen[l].size(); i++) list[1 + i] = chosen[l][i].second;
      list[0] = static_cast<Node>(chosen[l].size());
    }
  }
  for (int l = highest; l >= 0; l--) {
    for (const Scored &neighbour : chosen[l]) link_back(g, neighbour.second, node, l);
  }
}

// A new node: its record, then its links; it becomes the entry point when it
// reaches above the graph's top level (holding the entry lock meanwhile).
void insert(chnsw_graph &g, Node node, const float *vector) {
  int level = g.draw_level(node);
  std::memcpy(const_cast<float *>(g.vector(node)), vector, g.dimension * sizeof(float));
  g.links0(node)[0] = 0;
  if (level > 0) {
    g.upper[node] = static_cast<Node *>(std::calloc(static_cast<size_t>(level) * g.upper_words, sizeof(Node)));
    if (g.upper[node] == nullptr) throw std::runtime_error("out of memory for upper-level links");
  }
  g.levels[node] = static_cast<int8_t>(level);
  std::unique_lock<std::mutex> top_lock(g.entry_lock);
  int top = g.max_level;
  Node entry = g.entry;
  if (top < 0) {
    g.entry = node;
    g.max_level = level;
  } else {
    if (level <= top) top_lock.unlock();
    connect(g, node, level, entry, top);
    if (level > top) g.entry = node, g.max_level = level;
  }
  g.flags[node] = flag_present;
  g.present++;
  for (size_t high = g.high.load(); high < node + 1ull && !g.high.compare_exchange_weak(high, node + 1ull);) {
  }
}

// A node given a new vector keeps its level and is relinked from scratch; links
// other nodes hold to it stay (they still route).
void replace(chnsw_graph &g, Node node, const float *vector) {
  std::memcpy(const_cast<float *>(g.vector(node)), vector, g.dimension * sizeof(float));
  if (g.flags[node] & flag_deleted) g.deleted--;
  g.flags[node] = flag_present;
  std::unique_lock<std::mutex> top_lock(g.entry_lock);
  int top = g.max_level;
  Node entry = g.entry;
  top_lock.unlock();
  connect(g, node, g.levels[node], entry, top);
}

void report(const std::exception &e, char *error, size_t length) {
  if (error != nullptr && length > 0) {
    std::strncpy(error, e.what(), length - 1);
    error[length - 1] = '\0';
  }
}

chnsw_graph *empty_graph(size_t dimension, size_t m, size_t ef_construction, size_t seed, size_t capacity) {
  std::unique_ptr<chnsw_graph> graph(new chnsw_graph(dimension, m, ef_construction, seed));
  graph->grow(std::max<size_t>(capacity, 1));
  return graph.release();
}
}  // namespace

extern "C" {

chnsw_graph *chnsw_create(size_t dimension, size_t capacity, size_t m, size_t ef_construction, size_t seed,
                          char *error, size_t error_length) {
  try {
    if (dimension == 0 || m < 2 || m > 512 || ef_construction == 0) throw std::runtime_error("invalid graph settings");
    return empty_graph(dimension, m, ef_construction, seed, capacity);
  } catch (const std::exception &e) {
    report(e, error, error_length);
    return nullptr;
  }
}

void chnsw_free(chnsw_graph *graph) { delete graph; }

int chnsw_reserve(chnsw_graph *graph, size_t capacity, char *error, size_t error_length) {
  try {
    graph->grow(capacity);
    return 0;
  } catch (const std::exception &e) {
    report(e, error, error_length);
    return 1;
  }
}

int chnsw_add(chnsw_graph *graph, const float *vector, uint64_t label, char *error, size_t error_length) {
  try {
    if (label >= graph->capacity) throw std::runtime_error("label beyond the graph's room");
    Node node = static_cast<Node>(label);
    if (graph->flags[node] & flag_present) {
      replace(*graph, node, vector);
    } else {
      insert(*graph, node, vector);
    }
    return 0;
  } catch (const std::exception &e) {
    report(e, error, error_length);
    return 1;
  }
}

int chnsw_level_for(const chnsw_graph *graph, uint64_t label) {
  return graph->draw_level(static_cast<Node>(label));
}

int chnsw_mark_deleted(chnsw_graph *graph, uint64_t label) {
  if (label >= graph->high.load() || !graph->live(static_cast<Node>(label))) return 1;
  graph->flags[label] |= flag_deleted;
  graph->deleted++;
  return 0;
}

}  // extern "C"

namespace {
// Writes the best `k` of `found` into labels/scores, best first.
size_t emit(Farthest &found, size_t k, uint64_t *labels, float *scores) {
  while (found.size() > k) found.pop();
  size_t n = found.size();
  for (size_t i = n; i > 0; i--, found.pop()) {
    labels[i - 1] = found.top().second;
    scores[i - 1] = 1.0f - found.top().first;
  }
  return n;
}

// The query search (algorithm 5): descend the upper levels, then search level 0
// keeping max(ef, k) live nodes `allow` accepts. Searches never run beside inserts.
template <typename Allow>
size_t query(const chnsw_graph &g, const float *vector, size_t k, size_t ef, uint64_t *labels, float *scores,
             Allow allow) {
  if (g.present.load() == 0 || k == 0 || g.max_level < 0) return 0;
  Node start = descend<false>(g, vector, g.entry, g.max_level, 0);
  Farthest found = search_level<false>(g, vector, start, std::max(ef, k), 0,
                                       [&](Node node) { return g.live(node) && allow(node); });
  return emit(found, k, labels, scores);
}
}  // namespace

extern "C" {

size_t chnsw_search(const chnsw_graph *graph, const float *query_vector, size_t k, size_t ef, uint64_t *labels,
                    float *scores) {
  return query(*graph, query_vector, k, ef, labels, scores, [](Node) { return true; });
}

size_t chnsw_search_filtered(const chnsw_graph *graph, const float *query_vector, size_t k, size_t ef,
                             chnsw_allow allow, void *context, uint64_t *labels, float *scores) {
  return query(*graph, query_vector, k, ef, labels, scores, [&](Node node) { return allow(context, node) != 0; });
}

size_t chnsw_search_keyed(const chnsw_graph *graph, const float *query_vector, size_t k, size_t ef,
                          const int64_t *keys, size_t key_count, const uint64_t *bits, size_t words, uint64_t *labels,
                          float *scores) {
  return query(*graph, query_vector, k, ef, labels, scores, [&](Node node) {
    if (node >= key_count) return false;
    int64_t key = keys[node];
    return key >= 0 && static_cast<size_t>(key >> 6) < words && ((bits[key >> 6] >> (key & 63)) & 1) != 0;
  });
}

size_t chnsw_count(const chnsw_graph *graph) { return graph->present.load(); }

size_t chnsw_capacity(const chnsw_graph *graph) { return graph->capacity; }

size_t chnsw_deleted_count(const chnsw_graph *graph) { return graph->deleted.load(); }

size_t chnsw_memory_bytes(const chnsw_graph *graph) {
  const chnsw_graph &g = *graph;
  size_t bytes = g.capacity * (g.stride + sizeof(int8_t) + sizeof(uint8_t) + sizeof(Node *));
  for (size_t i = 0; i < g.high.load(); i++) {
    if (g.upper[i] != nullptr) bytes += malloc_usable_size(g.upper[i]) + sizeof(size_t);
  }
  bytes += lock_stripes * sizeof(std::mutex);
  std::lock_guard<std::mutex> guard(const_cast<chnsw_graph &>(g).visited_lock);
  for (const auto &visited : g.visited_pool) bytes += visited->tags.capacity() * sizeof(uint16_t);
  return bytes;
}

const float *chnsw_vector(const chnsw_graph *graph, uint64_t label) {
  if (label >= graph->high.load() || !graph->live(static_cast<Node>(label))) return nullptr;
  return graph->vector(static_cast<Node>(label));
}

}  // extern "C"

namespace {
// Copies node i's upper-level lists from `bytes` (levels 1...levels[i]).
void set_upper_links(chnsw_graph &g, size_t i, const char *bytes) {
  int level = g.levels[i];
  if (level <= 0) return;
  size_t size = static_cast<size_t>(level) * g.upper_words * sizeof(Node);
  g.upper[i] = static_cast<Node *>(std::malloc(size));
  if (g.upper[i] == nullptr) throw std::runtime_error("out of memory for upper-level links");
  std::memcpy(g.upper[i], bytes, size);
}

// Whether one list holds at most `limit` links, each to a present node below `n`
// that reaches `level`.
bool links_valid(const chnsw_graph &g, const Node *list, size_t limit, int level, size_t n) {
  if (list[0] > limit) return false;
  for (size_t j = 0; j < list[0]; j++) {
    Node to = list[1 + j];
    if (to >= n || !(g.flags[to] & flag_present) || g.levels[to] < level) return false;
  }
  return true;
}

// Why a loaded graph cannot be searched safely, or nullptr.
const char *structure_problem(const chnsw_graph &g, size_t n, size_t present, size_t deleted) {
  size_t counted = 0, marked = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t flags = g.flags[i];
    if (flags > (flag_present | flag_deleted)) return "a node flag out of range";
    if (!(flags & flag_present)) {
      if (flags != 0 || g.levels[i] != -1) return "an absent node with a level";
      continue;
    }
    counted++;
    if (flags & flag_deleted) marked++;
    int level = g.levels[i];
    if (level < 0 || level > g.max_level) return "a node level out of range";
    if (!links_valid(g, g.links0(static_cast<Node>(i)), g.max_m0, 0, n)) return "a level-0 link list out of range";
    for (int l = 1; l <= level; l++) {
      if (!links_valid(g, g.links(static_cast<Node>(i), l), g.m, l, n)) return "an upper link list out of range";
    }
  }
  if (counted != present || marked != deleted) return "node counts that do not match the header";
  if (counted == 0) return g.max_level == -1 ? nullptr : "an empty graph with levels";
  if (g.entry >= n || !(g.flags[g.entry] & flag_present) || g.levels[g.entry] != g.max_level) {
    return "an entry point not on the top level";
  }
  return nullptr;
}

// Reads a serialised graph from a byte range, bounds-checked.
struct Reader {
  const char *at;
  const char *end;
  const char *take(size_t n) {
    if (static_cast<size_t>(end - at) < n) throw std::runtime_error("the graph file is truncated");
    const char *start = at;
    at += n;
    return start;
  }
  void bytes(void *out, size_t n) { std::memcpy(out, take(n), n); }
};

const char graph_magic[8] = {'C', 'H', 'N', 'S', 'W', '0', '0', '2'};
constexpr size_t header_words = 10;
}  // namespace

extern "C" {

chnsw_graph *chnsw_clone(const chnsw_graph *graph, size_t capacity, char *error, size_t error_length) {
  const chnsw_graph &from = *graph;
  chnsw_graph *copy = nullptr;
  try {
    size_t n = from.high.load();
    copy = empty_graph(from.dimension, from.m, from.ef_construction, from.seed, std::max(capacity, n));
    std::memcpy(copy->level0, from.level0, n * from.stride);
    std::memcpy(copy->levels, from.levels, n);
    std::memcpy(copy->flags, from.flags, n);
    for (size_t i = 0; i < n; i++) {
      copy->high = i + 1;
      set_upper_links(*copy, i, reinterpret_cast<const char *>(from.upper[i]));
    }
    copy->present = from.present.load();
    copy->deleted = from.deleted.load();
    copy->max_level = from.max_level;
    copy->entry = from.entry;
    return copy;
  } catch (const std::exception &e) {
    delete copy;
    report(e, error, error_length);
    return nullptr;
  }
}

int chnsw_serialize(const chnsw_graph *graph, chnsw_sink sink, void *context) {
  const chnsw_graph &g = *graph;
  size_t n = g.high.load();
  uint64_t header[header_words] = {g.dimension, g.m, g.max_m0, g.ef_construction, n,
                                   static_cast<uint64_t>(static_cast<int64_t>(g.max_level)), g.entry, g.stride,
                                   g.present.load(), g.deleted.load()};
  if (int failed = sink(context, graph_magic, sizeof(graph_magic))) return failed;
  if (int failed = sink(context, header, sizeof(header))) return failed;
  if (int failed = sink(context, g.level0, n * g.stride)) return failed;
  if (int failed = sink(context, g.levels, n)) return failed;
  if (int failed = sink(context, g.flags, n)) return failed;
  for (size_t i = 0; i < n; i++) {
    if (g.levels[i] <= 0) continue;
    if (int failed = sink(context, g.upper[i], static_cast<size_t>(g.levels[i]) * g.upper_words * sizeof(Node))) {
      return failed;
    }
  }
  return 0;
}

chnsw_graph *chnsw_deserialize(const void *bytes, size_t length, size_t dimension, size_t m, size_t ef_construction,
                               size_t seed, size_t capacity, char *error, size_t error_length) {
  chnsw_graph *graph = nullptr;
  try {
    Reader reader{static_cast<const char *>(bytes), static_cast<const char *>(bytes) + length};
    if (std::memcmp(reader.take(sizeof(graph_magic)), graph_magic, sizeof(graph_magic)) != 0) {
      throw std::runtime_error("not a serialised graph of this format");
    }
    uint64_t header[header_words];
    reader.bytes(header, sizeof(header));
    if (header[0] != dimension || header[1] != m || header[2] != 2 * m) throw std::runtime_error("saved for another dimension or M");
    if (dimension == 0 || m < 2 || m > 512) throw std::runtime_error("invalid graph settings");
    uint64_t n = header[4];
    int64_t max_level = static_cast<int64_t>(header[5]);
    if (header[7] != sizeof(Node) * (1 + 2 * m) + sizeof(float) * dimension) throw std::runtime_error("another node layout");
    if (n > length / header[7] || n > UINT32_MAX || max_level < -1 || max_level >= max_level_allowed || header[6] > UINT32_MAX) {
      throw std::runtime_error("counts out of range");
    }
    graph = empty_graph(dimension, m, ef_construction, seed, std::max<size_t>(capacity, n));
    chnsw_graph &g = *graph;
    reader.bytes(g.level0, n * g.stride);
    reader.bytes(g.levels, n);
    reader.bytes(g.flags, n);
    g.max_level = static_cast<int>(max_level);
    g.entry = static_cast<Node>(header[6]);
    for (size_t i = 0; i < n; i++) {
      if (g.levels[i] < -1 || g.levels[i] > g.max_level) throw std::runtime_error("a node level out of range");
      size_t size = static_cast<size_t>(std::max<int>(g.levels[i], 0)) * g.upper_words * sizeof(Node);
      g.high = i + 1;
      set_upper_links(g, i, size > 0 ? reader.take(size) : nullptr);
    }
    if (reader.at != reader.end) throw std::runtime_error("bytes after the graph");
    if (const char *problem = structure_problem(g, n, header[8], header[9])) throw std::runtime_error(problem);
    g.present = header[8];
    g.deleted = header[9];
    return graph;
  } catch (const std::exception &e) {
    delete graph;
    report(e, error, error_length);
    return nullptr;
  }
}

}  // extern "C"
