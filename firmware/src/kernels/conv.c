/* CONV_2D, int8 activations and weights, per-channel or per-tensor requantization.
 * Same arithmetic as TFLM's reference_integer_ops::ConvPerChannel (grouped convolution too).
 * Writes output rows in order and reads only input rows >= oy * stride - pad while writing row
 * oy: the planner may stream the output over the input (see kernels.h). The generated code calls
 * tinyml_conv_mm_s8 (conv_fast.c) instead for the layers it planned for the fast path; this loop
 * runs on AVR and for the rest (groups, huge k, requantization the fast path cannot prove). */
#include "tinyml/kernels.h"

/* First and one-past-last kernel tap whose input coordinate origin + tap * dilation is inside [0, size). */
static void tap_range(int32_t origin, int32_t dilation, int32_t taps, int32_t size, int32_t *lo, int32_t *hi)
{
    int32_t a = 0, b = taps;
    while (a < b && origin + a * dilation < 0) {
        ++a;
    }
    while (b > a && origin + (b - 1) * dilation >= size) {
        --b;
    }
    *lo = a;
    *hi = b;
}

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
            int32_t ky_lo, ky_hi;
            tap_range(iy0, p.dilation_h, p.k_h, p.in_h, &ky_lo, &ky_hi);
            for (ox = 0; ox < p.out_w; ++ox) {
                const int32_t ix0 = ox * p.stride_w - p.pad_w;
                int32_t kx_lo, kx_hi;
                tap_range(ix0, p.dilation_w, p.k_w, p.in_w, &kx_lo, &kx_hi);
                for (oc = 0; oc < p.out_c; ++oc) {
                    const int8_t *f_oc = p.filter + oc * p.k_h * p.k_w * p.k_c;
                    const int8_t *in_px = in_b + (oc / out_per_group) * p.k_c;
                    const int32_t q = p.per_channel ? oc : 0;
                    int32_t acc = 0;
                    int32_t ky, kx, ic;
                    for (ky = ky_lo; ky < ky_hi; ++ky) {
                        const int8_t *in_row = in_px + (iy0 + p.dilation_h * ky) * p.in_w * p.in_c;
                        const int8_t *f_row = f_oc + ky * p.k_w * p.k_c;
                        for (kx = kx_lo; kx < kx_hi; ++kx) {
                            const int8_t *ip = in_row + (ix0 + p.dilation_w * kx) * p.in_c;
                            const int8_t *fp = f_row + kx * p.k_c;
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
