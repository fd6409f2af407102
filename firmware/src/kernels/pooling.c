/* AVERAGE_POOL_2D and MAX_POOL_2D, int8 (input and output share scale and zero point).
 * Same arithmetic as TFLM's reference_integer_ops::AveragePool / MaxPool: the window is
 * clipped to the input, the average divides by the clipped count, rounding half away from 0. */
#include "tinyml/kernels.h"

static int32_t clip_lo(int32_t origin) { return origin < 0 ? -origin : 0; }

static int32_t clip_hi(int32_t origin, int32_t k, int32_t size) { return size - origin < k ? size - origin : k; }

void tinyml_avg_pool_s8(const tinyml_pool_params *params, const int8_t *input, int8_t *output)
{
    tinyml_pool_params p;
    int32_t b, oy, ox, c, ky, kx;
    TINYML_LOAD_PARAMS(p, params);
    for (b = 0; b < p.batches; ++b) {
        const int8_t *in_b = input + b * p.in_h * p.in_w * p.channels;
        for (oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_h;
            const int32_t ky_start = clip_lo(iy0), ky_end = clip_hi(iy0, p.k_h, p.in_h);
            for (ox = 0; ox < p.out_w; ++ox) {
                const int32_t ix0 = ox * p.stride_w - p.pad_w;
                const int32_t kx_start = clip_lo(ix0), kx_end = clip_hi(ix0, p.k_w, p.in_w);
                const int32_t count = (ky_end - ky_start) * (kx_end - kx_start);
                for (c = 0; c < p.channels; ++c) {
                    int32_t acc = 0;
                    for (ky = ky_start; ky < ky_end; ++ky) {
                        const int8_t *row = in_b + ((iy0 + ky) * p.in_w + ix0) * p.channels + c;
                        for (kx = kx_start; kx < kx_end; ++kx) {
                            acc += row[kx * p.channels];
                        }
                    }
                    if (count > 0) {
                        acc = acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
                    }
                    *output++ = (int8_t)(acc < p.act_min ? p.act_min : (acc > p.act_max ? p.act_max : acc));
                }
            }
        }
    }
}

void tinyml_max_pool_s8(const tinyml_pool_params *params, const int8_t *input, int8_t *output)
{
    tinyml_pool_params p;
    int32_t b, oy, ox, c, ky, kx;
    TINYML_LOAD_PARAMS(p, params);
    for (b = 0; b < p.batches; ++b) {
        const int8_t *in_b = input + b * p.in_h * p.in_w * p.channels;
        for (oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_h;
            const int32_t ky_start = clip_lo(iy0), ky_end = clip_hi(iy0, p.k_h, p.in_h);
            for (ox = 0; ox < p.out_w; ++ox) {
                const int32_t ix0 = ox * p.stride_w - p.pad_w;
                const int32_t kx_start = clip_lo(ix0), kx_end = clip_hi(ix0, p.k_w, p.in_w);
                for (c = 0; c < p.channels; ++c) {
                    int32_t m = -128;
                    for (ky = ky_start; ky < ky_end; ++ky) {
                        const int8_t *row = in_b + ((iy0 + ky) * p.in_w + ix0) * p.channels + c;
                        for (kx = kx_start; kx < kx_end; ++kx) {
                            if (row[kx * p.channels] > m) {
                                m = row[kx * p.channels];
                            }
                        }
                    }
                    *output++ = (int8_t)(m < p.act_min ? p.act_min : (m > p.act_max ? p.act_max : m));
                }
            }
        }
    }
}
