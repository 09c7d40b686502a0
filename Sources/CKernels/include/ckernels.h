#ifndef CKERNELS_H
#define CKERNELS_H

#include <stddef.h>

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

#ifdef __cplusplus
}
#endif

#endif
