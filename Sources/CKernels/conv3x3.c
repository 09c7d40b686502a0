// Direct 3x3 convolution of single-channel images; see ckernels.h.
#include "ckernels.h"

#include <immintrin.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

// One image copied into a (height + 2) x (width + 2) buffer with a zero border, so
// that every output pixel reads its 9 taps without bounds checks.
static void pad_image(const float *image, size_t height, size_t width, float *padded) {
  size_t pw = width + 2;
  memset(padded, 0, (height + 2) * pw * sizeof(float));
  for (size_t y = 0; y < height; y++) memcpy(padded + (y + 1) * pw + 1, image + y * width, width * sizeof(float));
}

static inline float finish(float value, float bias, int relu) {
  value += bias;
  return relu && !(value > 0) ? 0 : value;
}

static void conv_generic(const float *padded, size_t height, size_t width, const float *weights, const float *bias,
                         size_t channels, int relu, float *out, float *sums) {
  size_t pw = width + 2;
  for (size_t oy = 0; oy < height / 2; oy++) {
    for (size_t ox = 0; ox < width / 2; ox++) {
      for (size_t c = 0; c < channels; c++) sums[c] = -INFINITY;
      for (size_t dy = 0; dy < 2; dy++) {
        for (size_t dx = 0; dx < 2; dx++) {
          const float *p = padded + (2 * oy + dy) * pw + 2 * ox + dx;
          for (size_t c = 0; c < channels; c++) {
            float sum = 0;
            for (size_t t = 0; t < 9; t++) sum += p[(t / 3) * pw + t % 3] * weights[t * channels + c];
            if (sum > sums[c]) sums[c] = sum;
          }
        }
      }
      float *o = out + (oy * (width / 2) + ox) * channels;
      for (size_t c = 0; c < channels; c++) o[c] = finish(sums[c], bias[c], relu);
    }
  }
}

// channels % 16 == 0: each block of 16 channels is one register per pixel, and
// the pooling window's four pixels share each weight load.
__attribute__((target("avx512f"))) static void conv_avx512(const float *padded, size_t height, size_t width,
                                                           const float *weights, const float *bias,
                                                           size_t channels, int relu, float *out) {
  size_t pw = width + 2;
  __m512 floor = relu ? _mm512_setzero_ps() : _mm512_set1_ps(-INFINITY);
  size_t oh = height / 2, ow = width / 2;
  for (size_t oy = 0; oy < oh; oy++) {
    for (size_t ox = 0; ox < ow; ox++) {
      const float *p = padded + 2 * oy * pw + 2 * ox;
      for (size_t b = 0; b < channels; b += 16) {
        __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
        for (size_t t = 0; t < 9; t++) {
          __m512 w = _mm512_loadu_ps(weights + t * channels + b);
          const float *q = p + (t / 3) * pw + t % 3;
          s0 = _mm512_fmadd_ps(_mm512_set1_ps(q[0]), w, s0);
          s1 = _mm512_fmadd_ps(_mm512_set1_ps(q[1]), w, s1);
          s2 = _mm512_fmadd_ps(_mm512_set1_ps(q[pw]), w, s2);
          s3 = _mm512_fmadd_ps(_mm512_set1_ps(q[pw + 1]), w, s3);
        }
        __m512 best = _mm512_max_ps(_mm512_max_ps(s0, s1), _mm512_max_ps(s2, s3));
        _mm512_storeu_ps(out + (oy * ow + ox) * channels + b, _mm512_max_ps(_mm512_add_ps(best, _mm512_loadu_ps(bias + b)), floor));
      }
    }
  }
}

void ck_conv3x3_pool_single_channel(const float *input, size_t images, size_t height, size_t width,
                                    const float *weights, const float *bias, size_t channels, int relu,
                                    float *output) {
  float *padded = malloc(((height + 2) * (width + 2) + channels) * sizeof(float));
  if (padded == NULL) abort();
  float *sums = padded + (height + 2) * (width + 2);
  int wide = channels % 16 == 0 && __builtin_cpu_supports("avx512f");
  size_t outSize = (height / 2) * (width / 2) * channels;
  for (size_t i = 0; i < images; i++) {
    pad_image(input + i * height * width, height, width, padded);
    if (wide) {
      conv_avx512(padded, height, width, weights, bias, channels, relu, output + i * outSize);
    } else {
      conv_generic(padded, height, width, weights, bias, channels, relu, output + i * outSize, sums);
    }
  }
  free(padded);
}
