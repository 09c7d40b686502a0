// Approximate inner products of one query with rows stored compressed, for the
// quantized flat indexes: 8-bit codes with a per-dimension scale and offset (as
// Faiss's SQ8: value = offset[j] + scale[j] * code[j]) or IEEE half floats. Each row
// is decoded in registers while it streams, never written back; the `r` best rows
// are kept in a min-heap for an exact re-rank. AVX-512 (F16C for halves) chosen at
// run time, AVX2+FMA or scalar otherwise; four rows at a time.
#include "ckernels.h"

#include <immintrin.h>
#include <stdint.h>

// Offers (score, row) to the min-heap of at most r entries (the smallest at 0).
static void heap_offer(float score, int64_t row, size_t r, float *scores, int64_t *rows, size_t *size) {
  size_t n = *size, i;
  if (n < r) {
    i = n++;
    while (i > 0 && scores[(i - 1) / 2] > score) {
      scores[i] = scores[(i - 1) / 2];
      rows[i] = rows[(i - 1) / 2];
      i = (i - 1) / 2;
    }
    scores[i] = score;
    rows[i] = row;
    *size = n;
    return;
  }
  if (!(score > scores[0])) return;
  i = 0;
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && scores[child + 1] < scores[child]) child++;
    if (!(scores[child] < score)) break;
    scores[i] = scores[child];
    rows[i] = rows[child];
    i = child;
  }
  scores[i] = score;
  rows[i] = row;
}

static float sq8_scalar(const uint8_t *code, const float *w, size_t d) {
  float s = 0;
  for (size_t j = 0; j < d; j++) s += w[j] * (float)code[j];
  return s;
}

__attribute__((target("avx512f"))) static float sq8_avx512(const uint8_t *code, const float *w, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    __m512 c0 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(code + j))));
    __m512 c1 = _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(code + j + 16))));
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j), c0, s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(w + j + 16), c1, s1);
  }
  float s = _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
  return s + sq8_scalar(code + j, w + j, d - j);
}

__attribute__((target("avx2,fma"))) static float sq8_avx2(const uint8_t *code, const float *w, size_t d) {
  __m256 s0 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 8 <= d; j += 8) {
    __m256 c = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(code + j))));
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(w + j), c, s0);
  }
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h) + sq8_scalar(code + j, w + j, d - j);
}

static float f16_to_f32(uint16_t h) {
  uint32_t sign = (uint32_t)(h & 0x8000) << 16, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff, bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {
      exponent = 127 - 15 + 1;
      while (!(mantissa & 0x400)) {
        mantissa <<= 1;
        exponent--;
      }
      bits = sign | (exponent << 23) | ((mantissa & 0x3ff) << 13);
    }
  } else if (exponent == 31) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else {
    bits = sign | ((exponent + 127 - 15) << 23) | (mantissa << 13);
  }
  float f;
  __builtin_memcpy(&f, &bits, sizeof f);
  return f;
}

static float f16_scalar(const uint16_t *row, const float *q, size_t d) {
  float s = 0;
  for (size_t j = 0; j < d; j++) s += q[j] * f16_to_f32(row[j]);
  return s;
}

__attribute__((target("avx512f"))) static float f16_avx512(const uint16_t *row, const float *q, size_t d) {
  __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
  size_t j = 0;
  for (; j + 32 <= d; j += 32) {
    s0 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + j))), s0);
    s1 = _mm512_fmadd_ps(_mm512_loadu_ps(q + j + 16), _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)(row + j + 16))), s1);
  }
  return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1)) + f16_scalar(row + j, q + j, d - j);
}

__attribute__((target("avx2,fma,f16c"))) static float f16_avx2(const uint16_t *row, const float *q, size_t d) {
  __m256 s0 = _mm256_setzero_ps();
  size_t j = 0;
  for (; j + 8 <= d; j += 8) {
    s0 = _mm256_fmadd_ps(_mm256_loadu_ps(q + j), _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(row + j))), s0);
  }
  __m128 h = _mm_add_ps(_mm256_castps256_ps128(s0), _mm256_extractf128_ps(s0, 1));
  h = _mm_add_ps(h, _mm_movehl_ps(h, h));
  h = _mm_add_ss(h, _mm_movehdup_ps(h));
  return _mm_cvtss_f32(h) + f16_scalar(row + j, q + j, d - j);
}

static int cpu_level(void) {
  static int level = -1;
  if (level < 0) {
    __builtin_cpu_init();
    level = __builtin_cpu_supports("avx512f") ? 2 : (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c")) ? 1 : 0;
  }
  return level;
}

void ck_sq8_top(const uint8_t *codes, size_t first, size_t end, size_t d, const float *weights, float bias, size_t r,
                float *heap_scores, int64_t *heap_rows, size_t *heap_size) {
  float (*score)(const uint8_t *, const float *, size_t) =
      cpu_level() == 2 ? sq8_avx512 : cpu_level() == 1 ? sq8_avx2 : sq8_scalar;
  for (size_t row = first; row < end; row++) {
    heap_offer(bias + score(codes + row * d, weights, d), (int64_t)row, r, heap_scores, heap_rows, heap_size);
  }
}

void ck_f16_top(const uint16_t *halves, size_t first, size_t end, size_t d, const float *query, size_t r,
                float *heap_scores, int64_t *heap_rows, size_t *heap_size) {
  float (*score)(const uint16_t *, const float *, size_t) =
      cpu_level() == 2 ? f16_avx512 : cpu_level() == 1 ? f16_avx2 : f16_scalar;
  for (size_t row = first; row < end; row++) {
    heap_offer(score(halves + row * d, query, d), (int64_t)row, r, heap_scores, heap_rows, heap_size);
  }
}
