/* CONV_2D, int8 activations and weights, per-channel or per-tensor requantization.
 * Same arithmetic as TFLM's reference_integer_ops::ConvPerChannel (grouped convolution too). */
#include "tinyml/kernels.h"

void tinyml_conv_s8(const tinyml_conv_params *params, const int8_t *input, int8_t *output)
{
    tinyml_conv_params p;
    int32_t b, oy, ox, oc;
    int32_t out_per_group;
    TINYML_LOAD_PARAMS(p, params);
    out_per_group = p.out_c / (p.in_c / p.k_c);

    for (b = 0; b < p.batches; ++b) {
        const int8_t *in_b = input + b * p.in_h * p.in_w * p.in_c;
        for (oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy0 = oy * p.stride_h - p.pad_h;
            for (ox = 0; ox < p.out_w; ++ox) {
                const int32_t ix0 = ox * p.stride_w - p.pad_w;
                for (oc = 0; oc < p.out_c; ++oc) {
                    const int8_t *f_oc = p.filter + oc * p.k_h * p.k_w * p.k_c;
                    const int32_t in_c0 = (oc / out_per_group) * p.k_c;
                    const int32_t q = p.per_channel ? oc : 0;
                    int32_t acc = 0;
                    int32_t ky, kx, ic;
                    for (ky = 0; ky < p.k_h; ++ky) {
                        const int32_t iy = iy0 + p.dilation_h * ky;
                        if (iy < 0 || iy >= p.in_h) {
                            continue;
                        }
                        for (kx = 0; kx < p.k_w; ++kx) {
                            const int32_t ix = ix0 + p.dilation_w * kx;
                            const int8_t *ip;
                            const int8_t *fp;
                            if (ix < 0 || ix >= p.in_w) {
                                continue;
                            }
                            ip = in_b + (iy * p.in_w + ix) * p.in_c + in_c0;
                            fp = f_oc + (ky * p.k_w + kx) * p.k_c;
                            for (ic = 0; ic < p.k_c; ++ic) {
                                acc += (int32_t)TINYML_READ_I8(fp + ic) * ((int32_t)ip[ic] + p.in_offset);
                            }
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
