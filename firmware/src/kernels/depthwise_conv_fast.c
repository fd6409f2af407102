/* DEPTHWISE_CONV_2D fast path (see kernels_fast.h); tinyml_depthwise_conv_s8 tries it first.
 *
 * Depth multiplier 1. Per output pixel the window is clipped to the image once; then for each
 * group of channels (4 with DSP: SXTB16 + SADD16 + SMLABB/SMLATT; 2 in portable C) the
 * accumulators stay in registers over the valid taps, walking input and filter by whole pixels,
 * and the group is requantized at once (3x3 windows wholly inside the image: the input
 * offset folded into a per-channel bias, see dw_body). Output pixels are written in order (row
 * streaming, see kernels.h, stays valid). */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST

typedef struct {
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
    int32_t qstep, out_offset, act_min, act_max;
} dw_quant;

/* Requantize channels c .. c + n - 1 of one output pixel with tinyml_requant_short. mode 1:
 * clamp to [act_min, act_max]; 2: the whole int8 range (SSAT); constant per call site. (Layers
 * that need the general requantization run the reference loop: tinyml_depthwise_conv_fast.) */
TINYML_INLINE void dw_store(const dw_quant q, int32_t c, int32_t n, const int32_t *acc, int8_t *out, const int mode)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t m = q.mult[(c + i) * q.qstep];
        const int s = q.shift[(c + i) * q.qstep];
        const int32_t v = acc[i] + (q.bias ? q.bias[c + i] : 0);
        int32_t y = tinyml_requant_short(v, m, -s, INT32_C(1) << (-s - 1), q.out_offset);
        if (mode == 2) {
            y = tinyml_sat8(y);
        } else {
            y = y < q.act_min ? q.act_min : y;
            y = y > q.act_max ? q.act_max : y;
        }
        out[c + i] = (int8_t)y;
    }
}

/* dw_store for 4 channels with the accumulators in registers (no array in memory), one output at a
 * time: computing all four before storing spilled registers. q is passed by value: a local whose
 * address is not taken cannot alias the int8 stores, so its fields stay in registers. */
TINYML_INLINE int8_t dw_one(const dw_quant q, int32_t c, int32_t acc, const int mode)
{
    const int32_t m = q.mult[c * q.qstep];
    const int s = q.shift[c * q.qstep];
    const int32_t v = acc + (q.bias ? q.bias[c] : 0);
    int32_t y = tinyml_requant_short(v, m, -s, INT32_C(1) << (-s - 1), q.out_offset);
    if (mode == 2) {
        return (int8_t)tinyml_sat8(y);
    }
    y = y < q.act_min ? q.act_min : y;
    y = y > q.act_max ? q.act_max : y;
    return (int8_t)y;
}

TINYML_INLINE void dw_store4(const dw_quant q, int32_t c, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                             int8_t *out, const int mode)
{
    out[c] = dw_one(q, c, a0, mode);
    out[c + 1] = dw_one(q, c + 1, a1, mode);
    out[c + 2] = dw_one(q, c + 2, a2, mode);
    out[c + 3] = dw_one(q, c + 3, a3, mode);
}

/* bias_full (3x3 filters, else NULL): bias[c] + in_offset * (sum of channel c's nine weights).
 * A window wholly inside the image then accumulates w * x without the offset and adds bias_full:
 * the same integer as before (so the same requantization), two SADD16 (DSP) or two adds (portable) fewer per tap. */
TINYML_INLINE void dw_body(const tinyml_depthwise_conv_params *p, const dw_quant q, const int32_t *bias_full,
                           const int8_t *input, int8_t *output, const int mode)
{
    const int32_t ch = p->in_c;
    const int32_t x_step = p->dilation_w * ch;
    const int32_t y_step = p->dilation_h * p->in_w * ch;
    const int32_t x_span = p->dilation_w * (p->k_w - 1); /* window width - 1 */
    int32_t b, oy, ox;
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
                int32_t kx0 = 0, kx1 = p->k_w, c = 0, nky, nkx;
                const int8_t *x_base;
                const int8_t *w_base;
                if (ix0 < 0 || ix0 + x_span >= p->in_w) { /* clip the window at the left / right edge */
                    while (kx0 < kx1 && ix0 + p->dilation_w * kx0 < 0) {
                        ++kx0;
                    }
                    while (kx1 > kx0 && ix0 + p->dilation_w * (kx1 - 1) >= p->in_w) {
                        --kx1;
                    }
                }
                nky = ky1 - ky0;
                nkx = kx1 - kx0;
                x_base = in_b + ((iy0 + p->dilation_h * ky0) * p->in_w + ix0 + p->dilation_w * kx0) * ch;
                w_base = p->filter + (ky0 * p->k_w + kx0) * ch;
#ifdef TINYML_USE_DSP
#define TINYML_DW_TAP4()                                                                          \
    do {                                                                                             \
        const uint32_t xv = tinyml_ld32(xp), wv = tinyml_ld32(wp);                                   \
        const uint32_t xe = tinyml_sadd16(tinyml_sxtb16(xv), off2);                                  \
        const uint32_t xo = tinyml_sadd16(tinyml_sxtb16_ror8(xv), off2);                             \
        const uint32_t we = tinyml_sxtb16(wv), wo = tinyml_sxtb16_ror8(wv);                          \
        acc0 = tinyml_smlabb(we, xe, acc0);                                                          \
        acc2 = tinyml_smlatt(we, xe, acc2);                                                          \
        acc1 = tinyml_smlabb(wo, xo, acc1);                                                          \
        acc3 = tinyml_smlatt(wo, xo, acc3);                                                          \
        xp += x_step;                                                                                \
        wp += ch;                                                                                    \
    } while (0)
/* One tap of 4 channels without the input offset, in one asm statement: with C intrinsics GCC
 * hoisted the nine taps' loads and spilled accumulators. The "memory" clobber keeps the loads
 * after earlier output stores (row streaming may overlap input and output). */
#define TINYML_DW_TAP4_RAW()                                                                      \
    do {                                                                                             \
        uint32_t xv, wv, xe, we;                                                                     \
        __asm__("ldr %[xv], [%[xp]]\n\t"                                                            \
                "ldr %[wv], [%[wp]]\n\t"                                                            \
                "add %[xp], %[xp], %[xs]\n\t"                                                       \
                "add %[wp], %[wp], %[ch]\n\t"                                                       \
                "sxtb16 %[xe], %[xv]\n\t"                                                           \
                "sxtb16 %[we], %[wv]\n\t"                                                           \
                "sxtb16 %[xv], %[xv], ror #8\n\t"                                                   \
                "sxtb16 %[wv], %[wv], ror #8\n\t"                                                   \
                "smlabb %[a0], %[we], %[xe], %[a0]\n\t"                                             \
                "smlatt %[a2], %[we], %[xe], %[a2]\n\t"                                             \
                "smlabb %[a1], %[wv], %[xv], %[a1]\n\t"                                             \
                "smlatt %[a3], %[wv], %[xv], %[a3]"                                                  \
                : [a0] "+r"(acc0), [a1] "+r"(acc1), [a2] "+r"(acc2), [a3] "+r"(acc3), [xp] "+r"(xp),  \
                  [wp] "+r"(wp), [xv] "=&r"(xv), [wv] "=&r"(wv), [xe] "=&r"(xe), [we] "=&r"(we)       \
                : [xs] "r"(x_step), [ch] "r"(ch)                                                     \
                : "memory");                                                                         \
    } while (0)
                if (nky == 3 && nkx == 3 && bias_full != NULL) {
                    /* the whole 3x3 window is inside, the offset folded into bias_full */
                    const int32_t x_row = y_step - 3 * x_step;
                    dw_quant qf = q;
                    qf.bias = bias_full;
                    for (; c + 4 <= ch; c += 4) {
                        int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
                        const int8_t *xp = x_base + c;
                        const int8_t *wp = w_base + c;
                        TINYML_DW_TAP4_RAW();
                        TINYML_DW_TAP4_RAW();
                        TINYML_DW_TAP4_RAW();
                        xp += x_row;
                        TINYML_DW_TAP4_RAW();
                        TINYML_DW_TAP4_RAW();
                        TINYML_DW_TAP4_RAW();
                        xp += x_row;
                        TINYML_DW_TAP4_RAW();
                        TINYML_DW_TAP4_RAW();
                        TINYML_DW_TAP4_RAW();
                        dw_store4(qf, c, acc0, acc1, acc2, acc3, output, mode);
                    }
                }
#undef TINYML_DW_TAP4_RAW
                if (nky == 3 && nkx == 3 && p->k_w == 3) {
                    /* the whole 3x3 window is inside: nine taps, straight line */
                    const int32_t x_row = y_step - 3 * x_step;
                    for (; c + 4 <= ch; c += 4) {
                        int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
                        const int8_t *xp = x_base + c;
                        const int8_t *wp = w_base + c;
                        TINYML_DW_TAP4();
                        TINYML_DW_TAP4();
                        TINYML_DW_TAP4();
                        xp += x_row;
                        TINYML_DW_TAP4();
                        TINYML_DW_TAP4();
                        TINYML_DW_TAP4();
                        xp += x_row;
                        TINYML_DW_TAP4();
                        TINYML_DW_TAP4();
                        TINYML_DW_TAP4();
                        dw_store4(q, c, acc0, acc1, acc2, acc3, output, mode);
                    }
                }
                for (; c + 4 <= ch; c += 4) {
                    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
                    const int8_t *xr = x_base + c;
                    const int8_t *wr = w_base + c;
                    int32_t ky, kx;
                    for (ky = nky; ky > 0; --ky, xr += y_step, wr += p->k_w * ch) {
                        const int8_t *xp = xr;
                        const int8_t *wp = wr;
                        for (kx = nkx; kx > 0; --kx) {
                            TINYML_DW_TAP4();
                        }
                    }
                    dw_store4(q, c, acc0, acc1, acc2, acc3, output, mode);
                }
#undef TINYML_DW_TAP4
#else
                if (nky == 3 && nkx == 3 && bias_full != NULL) {
                    /* the whole 3x3 window is inside, the offset folded into bias_full */
                    dw_quant qf = q;
                    qf.bias = bias_full;
                    for (; c + 2 <= ch; c += 2) {
                        int32_t acc[2] = {0, 0};
                        const int8_t *xr = x_base + c;
                        const int8_t *wr = w_base + c;
                        int32_t ky, kx;
                        for (ky = 3; ky > 0; --ky) {
                            const int8_t *xp = xr;
                            const int8_t *wp = wr;
                            for (kx = 3; kx > 0; --kx) {
                                acc[0] += wp[0] * xp[0];
                                acc[1] += wp[1] * xp[1];
                                xp += x_step;
                                wp += ch;
                            }
                            xr += y_step;
                            wr += 3 * ch;
                        }
                        dw_store(qf, c, 2, acc, output, mode);
                    }
                }
                for (; c + 2 <= ch; c += 2) {
                    int32_t acc[2] = {0, 0};
                    const int8_t *xr = x_base + c;
                    const int8_t *wr = w_base + c;
                    int32_t ky, kx;
                    for (ky = nky; ky > 0; --ky) {
                        const int8_t *xp = xr;
                        const int8_t *wp = wr;
                        for (kx = nkx; kx > 0; --kx) {
                            acc[0] += wp[0] * (xp[0] + p->in_offset);
                            acc[1] += wp[1] * (xp[1] + p->in_offset);
                            xp += x_step;
                            wp += ch;
                        }
                        xr += y_step;
                        wr += p->k_w * ch;
                    }
                    dw_store(q, c, 2, acc, output, mode);
                }
#endif
                for (; c < ch; ++c) {
                    int32_t acc = 0;
                    const int8_t *xr = x_base + c;
                    const int8_t *wr = w_base + c;
                    int32_t ky, kx;
                    for (ky = nky; ky > 0; --ky) {
                        const int8_t *xp = xr;
                        const int8_t *wp = wr;
                        for (kx = nkx; kx > 0; --kx) {
                            acc += *wp * (*xp + p->in_offset);
                            xp += x_step;
                            wp += ch;
                        }
                        xr += y_step;
                        wr += p->k_w * ch;
                    }
                    dw_store(q, c, 1, &acc, output, mode);
                }
                output += ch;
            }
        }
    }
}

int tinyml_depthwise_conv_fast(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output)
{
    const int32_t taps = p->k_h * p->k_w;
    dw_quant q;
    const int32_t *bias_full = NULL;
    int32_t bf[TINYML_DW_MAX_CH];
    if (p->depth_multiplier != 1 || taps > 1024) {
        return 0;
    }
    q.bias = p->bias;
    q.mult = p->multiplier;
    q.shift = p->shift;
    q.qstep = p->per_channel ? 1 : 0;
    q.out_offset = p->out_offset;
    q.act_min = p->act_min;
    q.act_max = p->act_max;
    if (!tinyml_requant_plan(p->bias, p->shift, p->in_c, p->per_channel, taps * 255 * 128)) {
        /* the general requantization (a multiplier > 1, huge biases): rare, so the reference
         * loop rather than a third copy of this code (flash) */
        return 0;
    }
    if (p->k_h == 3 && p->k_w == 3 && p->in_c <= TINYML_DW_MAX_CH) {
        int32_t c, t;
        for (c = 0; c < p->in_c; ++c) {
            int32_t sum_w = 0;
            for (t = 0; t < 9; ++t) {
                sum_w += p->filter[t * p->in_c + c];
            }
            bf[c] = (p->bias ? p->bias[c] : 0) + p->in_offset * sum_w;
        }
        bias_full = bf;
    }
    if (p->act_min <= -128 && p->act_max >= 127) {
        dw_body(p, q, bias_full, input, output, 2);
    } else {
        dw_body(p, q, bias_full, input, output, 1);
    }
    return 1;
}
#else
typedef int tinyml_depthwise_fast_unused; /* ISO C: a translation unit is not empty */
#endif
