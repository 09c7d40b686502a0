#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// A 3x3 convolution, stride 1, zero padding 1, of single-channel images
/// (`images` x `height` x `width`, row-major) into `channels` output channels,
/// then 2x2 max pooling with stride 2 (odd edges dropped), computed directly (no
/// patch matrix): the first block of an image CNN, whose GEMM would have an inner
/// dimension of 9.
///
/// `weights` are tap-major, `[ky * 3 + kx][channel]`. The output is channels-last,
/// `[images, height / 2, width / 2, channels]`; `bias` is added after the pool,
/// then with `relu` values are clamped at zero. Runs on the calling thread; uses
/// AVX-512 where the CPU has it.
void ck_conv3x3_pool_single_channel(const float *input, size_t images, size_t height, size_t width,
                                    const float *weights, const float *bias, size_t channels, int relu,
                                    float *output);

/// Inner products of `query` with rows [first, end) of `vectors` (rows of `d` floats),
/// only rows whose key passes when `bits` is given (`keys[row]` indexes the bitset
/// of `words` 64-bit words, bit k%64 of word k/64; negative keys never pass). Emits,
/// in row order, every row that can still be among the k best of the rows scored so
/// far (score >= the k-th best seen, ties kept): a superset of the k best rows, of
/// about k ln(n/k) rows for rows in random order. `heap_scores` is scratch of k floats.
/// Stops when `capacity` rows are emitted, setting `next_row` to where a further
/// call resumes (`end` when done); returns how many rows it emitted. Streams the
/// rows once, four at a time (AVX-512 or AVX2+FMA, chosen at run time).
size_t ck_dot_candidates(const float *vectors, size_t first, size_t end, size_t d, const float *query,
                         const int64_t *keys, const uint64_t *bits, size_t words, size_t k, float *heap_scores,
                         int32_t *rows_out, float *scores_out, size_t capacity, size_t *next_row);

/// The `r` best rows of `first..<end` of 8-bit `codes` (`d` bytes a row) for one query,
/// scored `bias + sum_j weights[j] * code[j]` (weights = query * per-dimension scale,
/// bias = query . per-dimension offset), kept in the min-heap `heap_scores`/`heap_rows`
/// of `*heap_size` entries (updated; call again for the next range).
void ck_sq8_top(const uint8_t *codes, size_t first, size_t end, size_t d, const float *weights, float bias, size_t r,
                float *heap_scores, int64_t *heap_rows, size_t *heap_size);

/// As ck_sq8_top for rows of IEEE half floats, scored by their inner product with `query`.
void ck_f16_top(const uint16_t *halves, size_t first, size_t end, size_t d, const float *query, size_t r,
                float *heap_scores, int64_t *heap_rows, size_t *heap_size);

/// The sum of `n` floats, read once in a streaming loop (AVX2 where the CPU has it):
/// what the benchmarks time to measure this machine's memory read bandwidth.
float ck_stream_sum(const float *values, size_t n);

/// Whether this CPU runs `ck_packed_gemm` (AVX-512).
int ck_packed_gemm_available(void);

/// Floats `ck_pack_weights` writes for an `n x k` weight.
size_t ck_packed_size(size_t n, size_t k);

/// Lays out a row-major `n x k` weight (one row per output) once, in panels of 32
/// outputs, k-major inside each panel (zero-padded to a multiple of 32 outputs).
void ck_pack_weights(const float *weights, size_t n, size_t k, float *packed);

/// `c[m, n] = max(a[m, k] * weights^T + bias, floor)` with the weights packed by
/// `ck_pack_weights`: floor 0 with `relu`, none otherwise; rows of `c` are `ldc` apart.
/// Single-threaded; equal blocks of at most 128 along k keep a weight panel in L1
/// across rows. Needs AVX-512 (`ck_packed_gemm_available`).
///
/// A range of output columns starting at a multiple of 32, `j0`, is computed by
/// passing `packed + j0 * k`, `bias + j0`, `c + j0` and that range's width as `n`.
void ck_packed_gemm(const float *a, size_t m, size_t k, const float *packed, size_t n, const float *bias, int relu,
                    float *c, size_t ldc);

/// A spin-wait hint to the CPU (`pause` on x86): lets a sibling hardware thread
/// run and saves power in a busy-wait loop.
static inline void ck_spin_pause(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

#ifdef __cplusplus
}
#endif

#endif
