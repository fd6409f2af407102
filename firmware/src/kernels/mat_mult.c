/* The matrix-multiply core of the fast conv / fully-connected paths (see kernels_fast.h):
 * one or two columns (output pixels) times every filter row, two rows at a time, then
 * requantization with the per-channel constants hoisted out of the pixel pair. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST

void tinyml_col_append(int16_t *dst, const int8_t *src, int32_t n, int32_t in_offset)
{
    int32_t i = 0;
    for (; i + 4 <= n; i += 4) {
        dst[i] = (int16_t)(src[i] + in_offset);
        dst[i + 1] = (int16_t)(src[i + 1] + in_offset);
        dst[i + 2] = (int16_t)(src[i + 2] + in_offset);
        dst[i + 3] = (int16_t)(src[i + 3] + in_offset);
    }
    for (; i < n; ++i) {
        dst[i] = (int16_t)(src[i] + in_offset);
    }
}

void tinyml_col_finish(int16_t *col, int32_t k)
{
#ifdef TINYML_USE_DSP
    int32_t i;
    for (i = 0; i + 4 <= k; i += 4) {
        const int16_t x1 = col[i + 1];
        col[i + 1] = col[i + 2];
        col[i + 2] = x1;
    }
#else
    (void)col;
    (void)k;
#endif
}

/* Accumulators for filter rows f0, f1 against col a (and b): the dot products only. */
static inline void dot2x2(const int8_t *f0, const int8_t *f1, const int16_t *a, const int16_t *b, int32_t k,
                          int32_t *r)
{
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    int32_t j;
#ifdef TINYML_USE_DSP
    for (j = k >> 2; j > 0; --j) {
        const uint32_t ca0 = tinyml_ld32(a), ca1 = tinyml_ld32(a + 2);
        const uint32_t cb0 = tinyml_ld32(b), cb1 = tinyml_ld32(b + 2);
        uint32_t w = tinyml_ld32(f0);
        uint32_t we = tinyml_sxtb16(w), wo = tinyml_sxtb16_ror8(w);
        a0 = tinyml_smlad(we, ca0, a0);
        a0 = tinyml_smlad(wo, ca1, a0);
        b0 = tinyml_smlad(we, cb0, b0);
        b0 = tinyml_smlad(wo, cb1, b0);
        w = tinyml_ld32(f1);
        we = tinyml_sxtb16(w);
        wo = tinyml_sxtb16_ror8(w);
        a1 = tinyml_smlad(we, ca0, a1);
        a1 = tinyml_smlad(wo, ca1, a1);
        b1 = tinyml_smlad(we, cb0, b1);
        b1 = tinyml_smlad(wo, cb1, b1);
        a += 4;
        b += 4;
        f0 += 4;
        f1 += 4;
    }
    k &= 3;
#else
    for (j = k >> 1; j > 0; --j) {
        const int32_t x0 = a[0], y0 = b[0], x1 = a[1], y1 = b[1];
        const int32_t w00 = f0[0], w10 = f1[0], w01 = f0[1], w11 = f1[1];
        a0 += w00 * x0;
        b0 += w00 * y0;
        a1 += w10 * x0;
        b1 += w10 * y0;
        a0 += w01 * x1;
        b0 += w01 * y1;
        a1 += w11 * x1;
        b1 += w11 * y1;
        a += 2;
        b += 2;
        f0 += 2;
        f1 += 2;
    }
    k &= 1;
#endif
    for (j = 0; j < k; ++j) {
        a0 += f0[j] * a[j];
        b0 += f0[j] * b[j];
        a1 += f1[j] * a[j];
        b1 += f1[j] * b[j];
    }
    r[0] = a0;
    r[1] = a1;
    r[2] = b0;
    r[3] = b1;
}

/* One col against filter rows f0 and f1. */
static inline void dot1x2(const int8_t *f0, const int8_t *f1, const int16_t *a, int32_t k, int32_t *r)
{
    int32_t a0 = 0, a1 = 0;
    int32_t j;
#ifdef TINYML_USE_DSP
    for (j = k >> 2; j > 0; --j) {
        const uint32_t ca0 = tinyml_ld32(a), ca1 = tinyml_ld32(a + 2);
        const uint32_t w0 = tinyml_ld32(f0), w1 = tinyml_ld32(f1);
        a0 = tinyml_smlad(tinyml_sxtb16(w0), ca0, a0);
        a0 = tinyml_smlad(tinyml_sxtb16_ror8(w0), ca1, a0);
        a1 = tinyml_smlad(tinyml_sxtb16(w1), ca0, a1);
        a1 = tinyml_smlad(tinyml_sxtb16_ror8(w1), ca1, a1);
        a += 4;
        f0 += 4;
        f1 += 4;
    }
    k &= 3;
#else
    for (j = k >> 1; j > 0; --j) {
        const int32_t x0 = a[0], x1 = a[1];
        a0 += f0[0] * x0;
        a1 += f1[0] * x0;
        a0 += f0[1] * x1;
        a1 += f1[1] * x1;
        a += 2;
        f0 += 2;
        f1 += 2;
    }
    k &= 1;
#endif
    for (j = 0; j < k; ++j) {
        a0 += f0[j] * a[j];
        a1 += f1[j] * a[j];
    }
    r[0] = a0;
    r[1] = a1;
}

void tinyml_mm_s8(const tinyml_mm_args *p, const int16_t *col0, const int16_t *col1, int8_t *out0, int8_t *out1)
{
    const int32_t k = p->k;
    const int32_t out_c = p->out_c;
    const int8_t *f = p->filter;
    int32_t c;
    int32_t mult = p->multiplier[0];
    int shift = p->shift[0];
    int ls = shift > 0 ? shift : 0, rs = shift > 0 ? 0 : -shift;
    for (c = 0; c < out_c; c += 2) {
        /* An odd last row pairs with itself; its second result is dropped. */
        const int32_t c1 = c + 1 < out_c ? c + 1 : c;
        const int8_t *f0 = f + c * k;
        const int8_t *f1 = f + c1 * k;
        int32_t r[4];
        int32_t i;
        if (col1) {
            dot2x2(f0, f1, col0, col1, k, r);
        } else {
            dot1x2(f0, f1, col0, k, r);
        }
        for (i = 0; i < 2 && c + i < out_c; ++i) {
            const int32_t ch = c + i;
            const int32_t bias = p->bias ? p->bias[ch] : 0;
            if (p->per_channel) {
                mult = p->multiplier[ch];
                shift = p->shift[ch];
                ls = shift > 0 ? shift : 0;
                rs = shift > 0 ? 0 : -shift;
            }
            out0[ch] = tinyml_fast_requant(r[i] + bias, mult, ls, rs, p->out_offset, p->act_min, p->act_max);
            if (col1) {
                out1[ch] = tinyml_fast_requant(r[2 + i] + bias, mult, ls, rs, p->out_offset, p->act_min, p->act_max);
            }
        }
    }
}

#else
typedef int tinyml_mat_mult_unused; /* ISO C: a translation unit is not empty */
#endif
