// GEMM against weights packed once; see ckernels.h.
#include "ckernels.h"

#include <immintrin.h>
#include <string.h>

enum { NR = 32, MR = 8, KC = 128 };

int ck_packed_gemm_available(void) {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

size_t ck_packed_size(size_t n, size_t k) { return (n + NR - 1) / NR * NR * k; }

void ck_pack_weights(const float *w, size_t n, size_t k, float *packed) {
  size_t panels = (n + NR - 1) / NR;
  for (size_t p = 0; p < panels; p++) {
    for (size_t kk = 0; kk < k; kk++) {
      float *dst = packed + (p * k + kk) * NR;
      for (size_t j = 0; j < NR; j++) {
        size_t col = p * NR + j;
        dst[j] = col < n ? w[col * k + kk] : 0;
      }
    }
  }
}

// rows (<= MR) x 32 columns of one panel over k in [k0, k0 + kc): accumulates onto
// c (first == 0) or starts from zero (first); on the last block adds bias and clamps.
// Inlined with a constant `rows`, so every row count keeps its sums in registers.
__attribute__((target("avx512f"), always_inline)) static inline void
micro(const float *a, size_t lda, const float *wp, size_t kc, float *c, size_t ldc, const size_t rows, __mmask16 m0,
      __mmask16 m1, int first, int last, const float *bias, int relu) {
  __m512 acc[MR][2];
#pragma clang loop unroll(full)
  for (size_t r = 0; r < MR; r++) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (size_t kk = 0; kk < kc; kk++) {
    __m512 w0 = _mm512_loadu_ps(wp + kk * NR), w1 = _mm512_loadu_ps(wp + kk * NR + 16);
#pragma clang loop unroll(full)
    for (size_t r = 0; r < MR; r++) {
      if (r < rows) {
        __m512 x = _mm512_set1_ps(a[r * lda + kk]);
        acc[r][0] = _mm512_fmadd_ps(x, w0, acc[r][0]);
        acc[r][1] = _mm512_fmadd_ps(x, w1, acc[r][1]);
      }
    }
  }
  __m512 b0 = _mm512_setzero_ps(), b1 = b0, floor = _mm512_set1_ps(-__builtin_inff());
  if (last) {
    b0 = _mm512_maskz_loadu_ps(m0, bias);
    b1 = _mm512_maskz_loadu_ps(m1, bias + 16);
    if (relu) floor = _mm512_setzero_ps();
  }
#pragma clang loop unroll(full)
  for (size_t r = 0; r < MR; r++) {
    if (r < rows) {
      float *row = c + r * ldc;
      __m512 s0 = acc[r][0], s1 = acc[r][1];
      if (!first) {
        s0 = _mm512_add_ps(s0, _mm512_maskz_loadu_ps(m0, row));
        s1 = _mm512_add_ps(s1, _mm512_maskz_loadu_ps(m1, row + 16));
      }
      if (last) {
        s0 = _mm512_max_ps(_mm512_add_ps(s0, b0), floor);
        s1 = _mm512_max_ps(_mm512_add_ps(s1, b1), floor);
      }
      _mm512_mask_storeu_ps(row, m0, s0);
      _mm512_mask_storeu_ps(row + 16, m1, s1);
    }
  }
}

#define MICRO(R) micro(a, lda, wp, kc, c, ldc, R, m0, m1, first, last, bias, relu)

// One tile with its row count made a constant.
__attribute__((target("avx512f"))) static void tile(const float *a, size_t lda, const float *wp, size_t kc, float *c,
                                                    size_t ldc, size_t rows, __mmask16 m0, __mmask16 m1, int first,
                                                    int last, const float *bias, int relu) {
  switch (rows) {
  case 8: MICRO(8); break;
  case 7: MICRO(7); break;
  case 6: MICRO(6); break;
  case 5: MICRO(5); break;
  case 4: MICRO(4); break;
  case 3: MICRO(3); break;
  case 2: MICRO(2); break;
  default: MICRO(1); break;
  }
}

__attribute__((target("avx512f"))) void ck_packed_gemm(const float *a, size_t m, size_t k, const float *packed,
                                                       size_t n, const float *bias, int relu, float *c, size_t ldc) {
  size_t panels = (n + NR - 1) / NR;
  // k blocks of equal size, none above KC (784 runs as 7 x 112, not 6 x 128 + 16).
  size_t blocks = (k + KC - 1) / KC, step = (k + blocks - 1) / blocks;
  for (size_t k0 = 0; k0 < k; k0 += step) {
    size_t kc = k - k0 < step ? k - k0 : step;
    int first = k0 == 0, last = k0 + kc == k;
    for (size_t p = 0; p < panels; p++) {
      size_t cols = n - p * NR < NR ? n - p * NR : NR;
      __mmask16 m0 = cols >= 16 ? 0xFFFF : (__mmask16)((1u << cols) - 1);
      __mmask16 m1 = cols <= 16 ? 0 : cols >= 32 ? 0xFFFF : (__mmask16)((1u << (cols - 16)) - 1);
      const float *wp = packed + (p * k + k0) * NR;
      for (size_t r0 = 0; r0 < m; r0 += MR) {
        size_t rows = m - r0 < MR ? m - r0 : MR;
        tile(a + r0 * k + k0, k, wp, kc, c + r0 * ldc + p * NR, ldc, rows, m0, m1, first, last, bias + p * NR, relu);
      }
    }
  }
}
