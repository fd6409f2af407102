/* DEPTHWISE_CONV_2D fast path (see kernels_fast.h); tinyml_depthwise_conv_s8 tries it first. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST
/* Requantize n channels of one output pixel from their accumulators. */
static void dw_store(const tinyml_depthwise_conv_params *p, int32_t c0, int32_t n, const int32_t *acc, int8_t *out)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t c = c0 + i;
        const int32_t q = p->per_channel ? c : 0;
        const int shift = p->shift[q];
        out[c] = tinyml_fast_requant(acc[i] + (p->bias ? p->bias[c] : 0), p->multiplier[q], shift > 0 ? shift : 0,
                                     shift > 0 ? 0 : -shift, p->out_offset, p->act_min, p->act_max);
    }
}

/* Fast path, depth multiplier 1: per output pixel, the window is clipped to the image once;
 * then for each group of channels (4 with DSP, 2 in portable C) the accumulators stay in
 * registers over the valid taps, walking the input and filter by whole pixels. Output pixels
 * are written in order (row streaming stays valid). */
int tinyml_depthwise_conv_fast(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->in_c;
    const int32_t x_step = p->dilation_w * ch;
    int32_t b, oy, ox;
    if (p->depth_multiplier != 1) {
        return 0;
    }
#ifdef TINYML_USE_DSP
    const uint32_t off2 = ((uint32_t)p->in_offset & 0xFFFFu) * 0x10001u;
#endif
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * ch;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t ky0 = 0, ky1 = p->k_h;
            while (ky0 < ky1 && iy0 + p->dilation_h * ky0 < 0) {
                ++ky0;
            }
            while (ky1 > ky0 && iy0 + p->dilation_h * (ky1 - 1) >= p->in_h) {
                --ky1;
            }
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t kx0 = 0, kx1 = p->k_w, c = 0;
                const int8_t *x_base;
                const int8_t *w_base;
                while (kx0 < kx1 && ix0 + p->dilation_w * kx0 < 0) {
                    ++kx0;
                }
                while (kx1 > kx0 && ix0 + p->dilation_w * (kx1 - 1) >= p->in_w) {
                    --kx1;
                }
                x_base = in_b + ((iy0 + p->dilation_h * ky0) * p->in_w + ix0 + p->dilation_w * kx0) * ch;
                w_base = p->filter + (ky0 * p->k_w + kx0) * ch;
#ifdef TINYML_USE_DSP
                for (; c + 4 <= ch; c += 4) {
                    int32_t acc[4] = {0, 0, 0, 0};
                    int32_t ky, kx;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xp = x_base + (ky - ky0) * p->dilation_h * p->in_w * ch + c;
                        const int8_t *wp = w_base + (ky - ky0) * p->k_w * ch + c;
                        for (kx = kx0; kx < kx1; ++kx) {
                            const uint32_t xv = tinyml_ld32(xp), wv = tinyml_ld32(wp);
                            const uint32_t xe = tinyml_sadd16(tinyml_sxtb16(xv), off2);
                            const uint32_t xo = tinyml_sadd16(tinyml_sxtb16_ror8(xv), off2);
                            const uint32_t we = tinyml_sxtb16(wv), wo = tinyml_sxtb16_ror8(wv);
                            acc[0] = tinyml_smlabb(we, xe, acc[0]);
                            acc[2] = tinyml_smlatt(we, xe, acc[2]);
                            acc[1] = tinyml_smlabb(wo, xo, acc[1]);
                            acc[3] = tinyml_smlatt(wo, xo, acc[3]);
                            xp += x_step;
                            wp += ch;
                        }
                    }
                    dw_store(p, c, 4, acc, output);
                }
#else
                for (; c + 2 <= ch; c += 2) {
                    int32_t acc[2] = {0, 0};
                    int32_t ky, kx;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xp = x_base + (ky - ky0) * p->dilation_h * p->in_w * ch + c;
                        const int8_t *wp = w_base + (ky - ky0) * p->k_w * ch + c;
                        for (kx = kx0; kx < kx1; ++kx) {
                            acc[0] += wp[0] * (xp[0] + p->in_offset);
                            acc[1] += wp[1] * (xp[1] + p->in_offset);
                            xp += x_step;
                            wp += ch;
                        }
                    }
                    dw_store(p, c, 2, acc, output);
                }
#endif
                for (; c < ch; ++c) {
                    int32_t acc = 0;
                    int32_t ky, kx;
                    for (ky = ky0; ky < ky1; ++ky) {
                        const int8_t *xp = x_base + (ky - ky0) * p->dilation_h * p->in_w * ch + c;
                        const int8_t *wp = w_base + (ky - ky0) * p->k_w * ch + c;
                        for (kx = kx0; kx < kx1; ++kx) {
                            acc += *wp * (*xp + p->in_offset);
                            xp += x_step;
                            wp += ch;
                        }
                    }
                    dw_store(p, c, 1, &acc, output);
                }
                output += ch;
            }
        }
    }
    return 1;
}
#else
typedef int tinyml_depthwise_fast_unused; /* ISO C: a translation unit is not empty */
#endif
