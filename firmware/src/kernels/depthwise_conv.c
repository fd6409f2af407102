/* DEPTHWISE_CONV_2D, int8, any depth multiplier. Same arithmetic as TFLM's
 * reference_integer_ops::DepthwiseConvPerChannel. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

void tinyml_depthwise_conv_s8(const tinyml_depthwise_conv_params *params, const int8_t *input, int8_t *output)
{
    tinyml_depthwise_conv_params p;
    int32_t b, oy, ox, oc;
    TINYML_LOAD_PARAMS(p, params);
#ifdef TINYML_FAST
    if (tinyml_depthwise_conv_fast(&p, input, output)) {
        return; /* depthwise_conv_fast.c */
    }
#endif

    for (b = 0; b < p.batches; ++b) {
        const int8_t *in_b = input + b * p.in_h * p.in_w * p.in_c;
        for (oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_h;
            for (ox = 0; ox < p.out_w; ++ox) {
                const int32_t ix0 = ox * p.stride_w - p.pad_w;
                /* output channel oc reads input channel oc / depth_multiplier */
                for (oc = 0; oc < p.out_c; ++oc) {
                    const int32_t ic = oc / p.depth_multiplier;
                    const int32_t q = p.per_channel ? oc : 0;
                    int32_t acc = 0;
                    int32_t ky, kx;
                    for (ky = 0; ky < p.k_h; ++ky) {
                        const int32_t iy = iy0 + p.dilation_h * ky;
                        if (iy < 0 || iy >= p.in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p.k_w; ++kx) {
                            const int32_t ix = ix0 + p.dilation_w * kx;
                            if (ix < 0 || ix >= p.in_w) {
                                continue;
                            }
                            acc += (int32_t)TINYML_READ_I8(p.filter + (ky * p.k_w + kx) * p.out_c + oc) *
                                   ((int32_t)in_b[(iy * p.in_w + ix) * p.in_c + ic] + p.in_offset);
                        }
                    }
                    if (p.bias) {
                        acc += TINYML_READ_I32(p.bias + oc);
                    }
                    *output++ = tinyml_requantize_s8(acc, TINYML_READ_I32(p.multiplier + q),
                                                     TINYML_READ_I8(p.shift + q), p.out_offset, p.act_min,
                                                     p.act_max);
                }
            }
        }
    }
}
