/* CONV_2D fast path (see kernels_fast.h); tinyml_conv_s8 tries it first.
 *
 * No groups, k_h * k_w * k_c <= TINYML_COL_MAX: each output pixel's receptive field becomes a
 * col (im2col of one or two pixels at a time, never of the whole image), then tinyml_mm_s8
 * multiplies it with every filter row. Pixels are written in order, and a pixel's col is
 * complete before any of its outputs is written, so the planner's row streaming (output
 * overlapping the input, kernels.h) stays valid. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST
int tinyml_conv_fast(const tinyml_conv_params *p, const int8_t *input, int8_t *output)
{
    tinyml_col col;
    const int32_t k = p->k_h * p->k_w * p->k_c;
    const int32_t npix = p->out_h * p->out_w;
    const int pairs = 2 * k <= TINYML_COL_MAX;
    tinyml_mm_args a;
    int32_t b, pix, i;
    if (p->k_c != p->in_c || k > TINYML_COL_MAX) {
        return 0;
    }
    a.k = k;
    a.out_c = p->out_c;
    a.filter = p->filter;
    a.bias = p->bias;
    a.multiplier = p->multiplier;
    a.shift = p->shift;
    a.per_channel = p->per_channel;
    a.out_offset = p->out_offset;
    a.act_min = p->act_min;
    a.act_max = p->act_max;
    if (!tinyml_mm_prepare(&a)) {
        return 0; /* the general requantization: the reference loop */
    }
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * p->in_c;
        int8_t *out_b = output + b * npix * p->out_c;
        for (pix = 0; pix < npix; pix += i) {
            const int32_t n = (pairs && pix + 1 < npix) ? 2 : 1;
            for (i = 0; i < n; ++i) {
                const int32_t oy = (pix + i) / p->out_w, ox = (pix + i) % p->out_w;
                const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
                int32_t ky, kx, k0 = 0;
                for (ky = 0; ky < p->k_h; ++ky) {
                    const int32_t iy = iy0 + p->dilation_h * ky;
                    const int row_in = iy >= 0 && iy < p->in_h;
                    if (row_in && p->dilation_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
                        /* the whole kernel row is inside: k_w * in_c contiguous inputs */
                        tinyml_col_put(&col, n, k, i, k0, in_b + (iy * p->in_w + ix0) * p->in_c, p->k_w * p->k_c,
                                       p->in_offset);
                        k0 += p->k_w * p->k_c;
                        continue;
                    }
                    for (kx = 0; kx < p->k_w; ++kx) {
                        const int32_t ix = ix0 + p->dilation_w * kx;
                        const int inside = row_in && ix >= 0 && ix < p->in_w;
                        tinyml_col_put(&col, n, k, i, k0, inside ? in_b + (iy * p->in_w + ix) * p->in_c : NULL, p->k_c,
                                       p->in_offset);
                        k0 += p->k_c;
                    }
                }
            }
            tinyml_mm_s8(&a, &col, n, out_b + pix * p->out_c, out_b + (pix + 1) * p->out_c);
        }
    }
    return 1;
}
#else
typedef int tinyml_conv_fast_unused; /* ISO C: a translation unit is not empty */
#endif
