/* CONV_2D through the matrix-multiply path (kernels_fast.h), called directly by the generated
 * code when tinyml/codegen/aot/ops/_mm.py planned the layer (no groups, k4 <= TINYML_COL_MAX).
 *
 * Each output pixel's receptive field becomes a col (im2col of one or two pixels at a time,
 * never of the whole image), then p->core multiplies it with every filter row pair. Pixels are
 * written in order, and a pixel's col is complete (or, when the core reads the input directly,
 * its inputs lie in rows the outputs written so far cannot reach) before any of its outputs is
 * written, so the planner's row streaming (output overlapping the input, kernels.h) stays valid. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST

/* n bytes: words while they last (memcpy from 16 bytes on). */
TINYML_NO_LIBCALL TINYML_INLINE void copy_bytes(int8_t *d, const int8_t *s, int32_t n)
{
    if (n >= 16) {
        memcpy(d, s, (size_t)n);
        return;
    }
    for (; n >= 4; n -= 4, d += 4, s += 4) {
        tinyml_st32(d, tinyml_ld32(s));
    }
    if (n & 2) { /* no loop: GCC would make one a memcpy call */
        d[0] = s[0];
        d[1] = s[1];
        d += 2;
        s += 2;
    }
    if (n & 1) {
        d[0] = s[0];
    }
}

TINYML_NO_LIBCALL TINYML_INLINE void fill_bytes(int8_t *d, uint32_t v4, int32_t n)
{
    for (; n >= 4; n -= 4, d += 4) {
        tinyml_st32(d, v4);
    }
    if (n & 2) {
        d[0] = (int8_t)v4;
        d[1] = (int8_t)v4;
        d += 2;
    }
    if (n & 1) {
        d[0] = (int8_t)v4;
    }
}

/* The k int8 inputs of output pixel (oy, ox) at dst[0..k), taps outside the image as the input
 * zero point, then zeros up to k4 (their weights are 0). */
TINYML_NO_LIBCALL static void conv_patch(const tinyml_conv_mm_params *p, const int8_t *in, int32_t oy, int32_t ox, int8_t *dst)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t in_c = p->in_c, row = p->k_w * in_c;
    const uint32_t pad = ((uint32_t)p->pad_value & 0xFFu) * 0x01010101u;
    int32_t ky, kx;
    if (p->dilation_h == 1 && p->dilation_w == 1 && iy0 >= 0 && ix0 >= 0 && iy0 + p->k_h <= p->in_h &&
        ix0 + p->k_w <= p->in_w) {
        /* the whole window inside: k_h rows of k_w * in_c contiguous inputs */
        const int32_t stride = p->in_w * in_c;
        const int8_t *src = in + (iy0 * p->in_w + ix0) * in_c;
        for (ky = p->k_h; ky > 0; --ky, src += stride, dst += row) {
            copy_bytes(dst, src, row);
        }
        fill_bytes(dst, 0, p->mm.k4 - p->k_h * row);
        return;
    }
    for (ky = 0; ky < p->k_h; ++ky) {
        const int32_t iy = iy0 + p->dilation_h * ky;
        if (iy < 0 || iy >= p->in_h) {
            fill_bytes(dst, pad, row);
        } else if (p->dilation_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
            copy_bytes(dst, in + (iy * p->in_w + ix0) * in_c, row);
        } else {
            for (kx = 0; kx < p->k_w; ++kx) {
                const int32_t ix = ix0 + p->dilation_w * kx;
                if (ix < 0 || ix >= p->in_w) {
                    fill_bytes(dst + kx * in_c, pad, in_c);
                } else {
                    copy_bytes(dst + kx * in_c, in + (iy * p->in_w + ix) * in_c, in_c);
                }
            }
        }
        dst += row;
    }
    fill_bytes(dst, 0, p->mm.k4 - p->k_h * row);
}

#ifdef TINYML_USE_DSP
/* groups * 4 int8 inputs from src, sign-extended into the col words of pixel i (of n); returns
 * the words after them. 4 instructions per group plus the loop's 2 per two groups. */
TINYML_INLINE uint32_t *col_widen(uint32_t *w, const int8_t *src, int32_t groups, const int32_t n)
{
    uint32_t x, y, e, o;
    if (groups & 1) {
        x = tinyml_ld32(src);
        w[0] = tinyml_sxtb16(x);
        w[1] = tinyml_sxtb16_ror8(x);
        src += 4;
        w += 2 * n;
    }
    groups >>= 1;
    if (groups == 0) {
        return w;
    }
#define TINYML_WIDEN(step)                                                                                       \
    __asm__ volatile("1:\n\t"                                                                                   \
                     "ldr %[x], [%[s]], #4\n\t"                                                                 \
                     "ldr %[y], [%[s]], #4\n\t"                                                                 \
                     "sxtb16 %[e], %[x]\n\t"                                                                    \
                     "sxtb16 %[o], %[x], ror #8\n\t"                                                            \
                     "strd %[e], %[o], [%[w]], #" step "\n\t"                                                   \
                     "sxtb16 %[e], %[y]\n\t"                                                                    \
                     "sxtb16 %[o], %[y], ror #8\n\t"                                                            \
                     "strd %[e], %[o], [%[w]], #" step "\n\t"                                                   \
                     "subs %[g], %[g], #1\n\t"                                                                  \
                     "bne 1b"                                                                                   \
                     : [s] "+r"(src), [w] "+r"(w), [g] "+r"(groups), [x] "=&r"(x), [y] "=&r"(y), [e] "=&r"(e),   \
                       [o] "=&r"(o)                                                                             \
                     :                                                                                          \
                     : "cc", "memory")
    if (n == 2) {
        TINYML_WIDEN("16");
    } else {
        TINYML_WIDEN("8");
    }
#undef TINYML_WIDEN
    return w;
}

TINYML_INLINE void col_fill(uint32_t *w, uint32_t e, uint32_t o, int32_t groups, int32_t n)
{
    const int32_t step = 2 * n;
    for (; groups > 0; --groups) {
        w[0] = e;
        w[1] = o;
        w += step;
    }
}

/* Pixel i's col words. With in_c % 4 == 0 every tap starts a group: widen straight from the
 * input (a padded tap is the zero point's words); otherwise through an int8 patch kept after the
 * col's 2 * n * k4 bytes (the generator picks n so that both fit in the buffer). */
static void conv_col(const tinyml_conv_mm_params *p, const int8_t *in, int32_t oy, int32_t ox, uint32_t *col,
                     int32_t i, int32_t n)
{
    uint32_t *w = col + 2 * i;
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    if ((p->in_c & 3) == 0 && p->dilation_h == 1 && p->dilation_w == 1 && iy0 >= 0 && ix0 >= 0 &&
        iy0 + p->k_h <= p->in_h && ix0 + p->k_w <= p->in_w) {
        /* the whole window inside: k_h rows of k_w * in_c contiguous inputs */
        const int32_t row_g = (p->k_w * p->in_c) >> 2, stride = p->in_w * p->in_c;
        const int8_t *src = in + (iy0 * p->in_w + ix0) * p->in_c;
        int32_t ky;
        for (ky = p->k_h; ky > 0; --ky, src += stride) {
            w = n == 2 ? col_widen(w, src, row_g, 2) : col_widen(w, src, row_g, 1);
        }
    } else if ((p->in_c & 3) == 0) {
        const int32_t in_c = p->in_c, tap_g = in_c >> 2, row_g = p->k_w * tap_g, step = 2 * n;
        const uint32_t pw = ((uint32_t)p->pad_value & 0xFFu) * 0x01010101u;
        const uint32_t pe = tinyml_sxtb16(pw), po = tinyml_sxtb16_ror8(pw);
        int32_t ky, kx;
        for (ky = 0; ky < p->k_h; ++ky) {
            const int32_t iy = iy0 + p->dilation_h * ky;
            if (iy < 0 || iy >= p->in_h) {
                col_fill(w, pe, po, row_g, n);
            } else if (p->dilation_w == 1 && ix0 >= 0 && ix0 + p->k_w <= p->in_w) {
                (void)(n == 2 ? col_widen(w, in + (iy * p->in_w + ix0) * in_c, row_g, 2)
                              : col_widen(w, in + (iy * p->in_w + ix0) * in_c, row_g, 1));
            } else {
                for (kx = 0; kx < p->k_w; ++kx) {
                    const int32_t ix = ix0 + p->dilation_w * kx;
                    if (ix < 0 || ix >= p->in_w) {
                        col_fill(w + kx * tap_g * step, pe, po, tap_g, n);
                    } else {
                        const int8_t *src = in + (iy * p->in_w + ix) * in_c;
                        (void)(n == 2 ? col_widen(w + kx * tap_g * step, src, tap_g, 2)
                                      : col_widen(w + kx * tap_g * step, src, tap_g, 1));
                    }
                }
            }
            w += row_g * step;
        }
    } else {
        int8_t *patch = (int8_t *)(col + 2 * n * (p->mm.k4 >> 2));
        conv_patch(p, in, oy, ox, patch);
        (void)(n == 2 ? col_widen(w, patch, p->mm.k4 >> 2, 2) : col_widen(w, patch, p->mm.k4 >> 2, 1));
    }
}
#endif

void tinyml_conv_mm_s8(const tinyml_conv_mm_params *params, const int8_t *input, int8_t *output)
{
    const tinyml_conv_mm_params p = *params;
    const int32_t npix = p.out_h * p.out_w, out_c = p.mm.out_c;
    /* a 1x1 stride-1 unpadded layer whose pixels are whole groups: the input is the col */
    const int direct = p.k_h == 1 && p.k_w == 1 && p.stride_h == 1 && p.stride_w == 1 && p.pad_h == 0 &&
                       p.pad_w == 0 && p.in_h == p.out_h && p.in_w == p.out_w && p.k == p.mm.k4;
#ifdef TINYML_USE_DSP
    uint32_t col[TINYML_COL_MAX / 2];
#else
    int8_t patch[2][TINYML_COL_MAX];
#endif
    int32_t b, pix;
#ifdef TINYML_USE_DSP
    (void)direct;
#endif
    for (b = 0; b < p.batches; ++b) {
        const int8_t *in_b = input + b * p.in_h * p.in_w * p.in_c;
        int8_t *out = output + b * npix * out_c;
        int32_t oy = 0, ox = 0;
        for (pix = 0; pix < npix;) {
#ifdef TINYML_USE_DSP
            const int32_t n = (p.pairs && pix + 1 < npix) ? 2 : 1;
#else
            const int32_t n = pix + 1 < npix ? 2 : 1; /* the two int8 patches always fit */
#endif
            int32_t i;
#ifdef TINYML_USE_DSP
            for (i = 0; i < n; ++i) {
                conv_col(&p, in_b, oy, ox, col, i, n);
                if (++ox == p.out_w) {
                    ox = 0;
                    ++oy;
                }
            }
            p.core(&p.mm, col, n == 2 ? col : NULL, out, out + out_c);
#else
            const int8_t *src[2];
            if (direct) {
                src[0] = in_b + pix * p.in_c;
                src[1] = src[0] + p.in_c;
                if (n == 2 && ++ox == p.out_w) {
                    /* pixel 1 starts the next row: the core writes pixel 1's outputs while it
                     * still reads pixel 0's inputs, and with row streaming output row oy + 1 may
                     * lie over input row oy (kernels.h), so pixel 0's inputs are copied first */
                    copy_bytes(patch[0], src[0], p.in_c);
                    src[0] = patch[0];
                    ox = 0;
                }
                if (++ox == p.out_w) {
                    ox = 0;
                }
            } else {
                for (i = 0; i < n; ++i) {
                    conv_patch(&p, in_b, oy, ox, patch[i]);
                    src[i] = patch[i];
                    if (++ox == p.out_w) {
                        ox = 0;
                        ++oy;
                    }
                }
            }
            p.core(&p.mm, src[0], n == 2 ? src[1] : NULL, out, out + out_c);
#endif
            pix += n;
            out += n * out_c;
        }
    }
}
#else
typedef int tinyml_conv_fast_unused; /* ISO C: a translation unit is not empty */
#endif
