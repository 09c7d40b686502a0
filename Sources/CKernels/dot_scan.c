// Inner products of one query with stored rows, for exact search: all rows, or only
// rows whose key passes a bitset, streamed once. AVX-512 or AVX2+FMA chosen at run
// time (the target is built for the baseline), four rows at a time so that several
// loads are in flight.
#include "ckernels.h"

#include <immintrin.h>
#include <stdint.h>

static float dot_scalar(const float *a, const float *b, size_t d) {
  float s = 0;
  for (size_t i = 0; i < d; i++) s += a[i] * b[i];
  return s;
}

__attribute__((target("avx2,fma"))) static float hsum256(__m256 v) {
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h);
}

__attribute__((target("avx2,fma"))) static void dot4_avx2(const float *q, const float *r0, const float *r1,
                                                          const float *r2, const float *r3, size_t d, float *out) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 8 <= d; i += 8) {
    __m256 x = _mm256_loadu_ps(q + i);
    s0 = _mm256_fmadd_ps(x, _mm256_loadu_ps(r0 + i), s0);
    s1 = _mm256_fmadd_ps(x, _mm256_loadu_ps(r1 + i), s1);
    s2 = _mm256_fmadd_ps(x, _mm256_loadu_ps(r2 + i), s2);
    s3 = _mm256_fmadd_ps(x, _mm256_loadu_ps(r3 + i), s3);
  }
  out[0] = hsum256(s0) + dot_scalar(q + i, r0 + i, d - i);
  out[1] = hsum256(s1) + dot_scalar(q + i, r1 + i, d - i);
  out[2] = hsum256(s2) + dot_scalar(q + i, r2 + i, d - i);
  out[3] = hsum256(s3) + dot_scalar(q + i, r3 + i, d - i);
}

__attribute__((target("avx512f"))) static void dot4_avx512(const float *q, const float *r0, const float *r1,
                                                            const float *r2, const float *r3, size_t d, float *out) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps(), s2 = _mm512_setzero_ps(), s3 = _mm512_setzero_ps();
  size_t i = 0;
  for (; i + 16 <= d; i += 16) {
    __m512 x = _mm512_loadu_ps(q + i);
    s0 = _mm512_fmadd_ps(x, _mm512_loadu_ps(r0 + i), s0);
    s1 = _mm512_fmadd_ps(x, _mm512_loadu_ps(r1 + i), s1);
    s2 = _mm512_fmadd_ps(x, _mm512_loadu_ps(r2 + i), s2);
    s3 = _mm512_fmadd_ps(x, _mm512_loadu_ps(r3 + i), s3);
  }
  if (i < d) {
    __mmask16 m = (__mmask16)((1u << (d - i)) - 1);
    __m512 x = _mm512_maskz_loadu_ps(m, q + i);
    s0 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, r0 + i), s0);
    s1 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, r1 + i), s1);
    s2 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, r2 + i), s2);
    s3 = _mm512_fmadd_ps(x, _mm512_maskz_loadu_ps(m, r3 + i), s3);
  }
  out[0] = _mm512_reduce_add_ps(s0);
  out[1] = _mm512_reduce_add_ps(s1);
  out[2] = _mm512_reduce_add_ps(s2);
  out[3] = _mm512_reduce_add_ps(s3);
}

typedef void (*dot4_fn)(const float *, const float *, const float *, const float *, const float *, size_t, float *);

static void dot4_scalar(const float *q, const float *r0, const float *r1, const float *r2, const float *r3, size_t d,
                        float *out) {
  out[0] = dot_scalar(q, r0, d);
  out[1] = dot_scalar(q, r1, d);
  out[2] = dot_scalar(q, r2, d);
  out[3] = dot_scalar(q, r3, d);
}

static dot4_fn best_dot4(void) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f")) return dot4_avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return dot4_avx2;
  return dot4_scalar;
}

/// A min-heap of the k best scores seen, for the candidate threshold.
typedef struct {
  float *score;
  size_t count, k;
} score_heap;

static void heap_offer(score_heap *h, float s) {
  size_t i;
  if (h->count < h->k) {
    i = h->count++;
    while (i > 0 && h->score[(i - 1) / 2] > s) {
      h->score[i] = h->score[(i - 1) / 2];
      i = (i - 1) / 2;
    }
    h->score[i] = s;
    return;
  }
  if (s <= h->score[0]) return;
  i = 0;
  for (;;) {
    size_t l = 2 * i + 1, r = l + 1, m = i;
    float best = s;
    if (l < h->count && h->score[l] < best) { m = l; best = h->score[l]; }
    if (r < h->count && h->score[r] < best) m = r;
    if (m == i) break;
    h->score[i] = h->score[m];
    i = m;
  }
  h->score[i] = s;
}

static int key_passes(const int64_t *keys, const uint64_t *bits, size_t words, size_t row) {
  if (bits == NULL) return 1;
  int64_t key = keys[row];
  return key >= 0 && (size_t)(key >> 6) < words && ((bits[key >> 6] >> (key & 63)) & 1);
}

/// Emits `row` if it can still be among the k best; 0 when the output is full.
static int emit(score_heap *h, float s, int32_t row, int32_t *rows_out, float *scores_out, size_t *found, size_t capacity) {
  if (h->count == h->k && s < h->score[0]) return 1;
  if (*found == capacity) return 0;
  rows_out[*found] = row;
  scores_out[*found] = s;
  (*found)++;
  heap_offer(h, s);
  return 1;
}

// The sums of 16 vectors, one per lane, in order: a transposing reduction tree
// (unpack and 128-bit shuffles) that costs about 3 operations per vector, where a
// horizontal sum of each costs about 8.
__attribute__((target("avx512f"))) static __m512 sum16(const __m512 *v) {
  __m512 p[8], q[4], r[2];
  for (int i = 0; i < 8; i++) {
    p[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]), _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  }
  for (int i = 0; i < 4; i++) {
    __m512d a = _mm512_castps_pd(p[2 * i]), b = _mm512_castps_pd(p[2 * i + 1]);
    q[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(a, b)), _mm512_castpd_ps(_mm512_unpackhi_pd(a, b)));
  }
  for (int i = 0; i < 2; i++) {
    r[i] = _mm512_add_ps(_mm512_shuffle_f32x4(q[2 * i], q[2 * i + 1], 0x88), _mm512_shuffle_f32x4(q[2 * i], q[2 * i + 1], 0xDD));
  }
  return _mm512_add_ps(_mm512_shuffle_f32x4(r[0], r[1], 0x88), _mm512_shuffle_f32x4(r[0], r[1], 0xDD));
}

// The inner products of 16 consecutive rows (from `rows`, `d` apart) with `q`.
__attribute__((target("avx512f"))) static __m512 dot16_avx512(const float *q, const float *rows, size_t d) {
  __m512 acc[16];
  size_t full = d & ~(size_t)15;
  __mmask16 tail = (__mmask16)((1u << (d - full)) - 1);
  for (int r = 0; r < 16; r++) {
    const float *row = rows + (size_t)r * d;
    __m512 s = _mm512_setzero_ps();
    for (size_t j = 0; j < full; j += 16) s = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), _mm512_loadu_ps(row + j), s);
    if (tail) s = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(tail, q + full), _mm512_maskz_loadu_ps(tail, row + full), s);
    acc[r] = s;
  }
  return sum16(acc);
}

// The unfiltered scan with AVX-512: 16 rows at a time, one comparison against the
// current k-th best for all 16, and only rows at or above it emitted. Returns 0 when
// the output filled up (`*next_row` says where to resume), 1 when `first..<end` is done
// but for the last `end - *done` rows (fewer than 16), left to the caller.
__attribute__((target("avx512f"))) static int scan16(const float *vectors, size_t first, size_t end, size_t d,
                                                     const float *query, score_heap *h, int32_t *rows_out,
                                                     float *scores_out, size_t *found, size_t capacity, size_t *next_row,
                                                     size_t *done) {
  size_t row = first;
  for (; row + 16 <= end; row += 16) {
    __m512 scores = dot16_avx512(query, vectors + row * d, d);
    float threshold = h->count == h->k ? h->score[0] : -__builtin_inff();
    __mmask16 above = _mm512_cmp_ps_mask(scores, _mm512_set1_ps(threshold), _CMP_GE_OQ);
    if (!above) continue;
    float lane[16];
    _mm512_storeu_ps(lane, scores);
    for (unsigned bits = above; bits; bits &= bits - 1) {
      int j = __builtin_ctz(bits);
      if (!emit(h, lane[j], (int32_t)(row + (size_t)j), rows_out, scores_out, found, capacity)) {
        *next_row = row + (size_t)j;
        return 0;
      }
    }
  }
  *done = row;
  return 1;
}

size_t ck_dot_candidates(const float *vectors, size_t first, size_t end, size_t d, const float *query,
                         const int64_t *keys, const uint64_t *bits, size_t words, size_t k, float *heap_scores,
                         int32_t *rows_out, float *scores_out, size_t capacity, size_t *next_row) {
  dot4_fn dot4 = best_dot4();
  score_heap h = {heap_scores, 0, k};
  size_t found = 0;
  int32_t pending[4];
  float scores[4];
  size_t held = 0;
  *next_row = end;
  if (k == 0) return 0;
  if (bits == NULL && dot4 == dot4_avx512) {
    size_t done = first;
    if (!scan16(vectors, first, end, d, query, &h, rows_out, scores_out, &found, capacity, next_row, &done)) return found;
    first = done;
  }
  for (size_t row = first; row < end; row++) {
    if (!key_passes(keys, bits, words, row)) continue;
    pending[held++] = (int32_t)row;
    if (held < 4) continue;
    dot4(query, vectors + (size_t)pending[0] * d, vectors + (size_t)pending[1] * d, vectors + (size_t)pending[2] * d,
         vectors + (size_t)pending[3] * d, d, scores);
    held = 0;
    for (size_t j = 0; j < 4; j++) {
      if (!emit(&h, scores[j], pending[j], rows_out, scores_out, &found, capacity)) {
        *next_row = (size_t)pending[j];
        return found;
      }
    }
  }
  for (size_t j = 0; j < held; j++) {
    if (!emit(&h, dot_scalar(query, vectors + (size_t)pending[j] * d, d), pending[j], rows_out, scores_out, &found, capacity)) {
      *next_row = (size_t)pending[j];
      return found;
    }
  }
  return found;
}

__attribute__((target("avx2"))) static float stream_sum_avx2(const float *values, size_t n) {
  __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps(), s2 = _mm256_setzero_ps(), s3 = _mm256_setzero_ps();
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    s0 = _mm256_add_ps(s0, _mm256_loadu_ps(values + i));
    s1 = _mm256_add_ps(s1, _mm256_loadu_ps(values + i + 8));
    s2 = _mm256_add_ps(s2, _mm256_loadu_ps(values + i + 16));
    s3 = _mm256_add_ps(s3, _mm256_loadu_ps(values + i + 24));
  }
  float s = hsum256(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
  for (; i < n; i++) s += values[i];
  return s;
}

float ck_stream_sum(const float *values, size_t n) {
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx2")) return stream_sum_avx2(values, n);
  float s = 0;
  for (size_t i = 0; i < n; i++) s += values[i];
  return s;
}
