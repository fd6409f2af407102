/* AVERAGE_POOL_2D and MAX_POOL_2D, int8 (input and output share scale and zero point).
 * Same arithmetic as TFLM's reference_integer_ops::AveragePool / MaxPool: the window is
 * clipped to the input, the average divides by the clipped count, rounding half away from 0. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

static int32_t clip_lo(int32_t origin) { return origin < 0 ? -origin : 0; }

static int32_t clip_hi(int32_t origin, int32_t k, int32_t size) { return size - origin < k ? size - origin : k; }

#ifdef TINYML_FAST
/* Fast paths (not AVR): per output pixel, the clipped window once, then 4 channels at a time over
 * its taps, whole pixels apart (the reference loops walk one channel over the window at a time).
 * Output pixels are written in order after their window is read: row streaming (kernels.h) holds,
 * and an output pixel never overlaps an input row its own window still reads. */

TINYML_INLINE int32_t pool_clamp(int32_t v, int32_t lo, int32_t hi) { return v < lo ? lo : (v > hi ? hi : v); }

/* TFLM's rounding: half away from zero, C division truncating toward zero */
TINYML_INLINE int32_t pool_avg(int32_t acc, int32_t count)
{
    return acc > 0 ? (acc + count / 2) / count : (acc - count / 2) / count;
}

/* The clipped window of output pixel (oy, ox): its first tap, and its rows and columns. */
typedef struct {
    const int8_t *win;
    int32_t nky, nkx;
} pool_window;

TINYML_INLINE pool_window pool_window_at(const tinyml_pool_params *p, const int8_t *in_b, int32_t oy, int32_t ox)
{
    const int32_t iy0 = oy * p->stride_h - p->pad_h, ix0 = ox * p->stride_w - p->pad_w;
    const int32_t ky0 = clip_lo(iy0), kx0 = clip_lo(ix0);
    pool_window w;
    w.nky = clip_hi(iy0, p->k_h, p->in_h) - ky0;
    w.nkx = clip_hi(ix0, p->k_w, p->in_w) - kx0;
    w.win = in_b + ((iy0 + ky0) * p->in_w + ix0 + kx0) * p->channels;
    return w;
}

static void avg_pool_fast(const tinyml_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels, ch4 = ch & ~3;
    int32_t b, oy, ox, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * ch;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox, output += ch) {
                const pool_window w = pool_window_at(p, in_b, oy, ox);
                const int32_t nky = w.nky, nkx = w.nkx, count = nky * nkx;
                const int32_t row_step = p->in_w * ch;
                const int8_t *win = w.win;
                if (count <= 0) {
                    for (c = 0; c < ch; ++c) {
                        output[c] = (int8_t)pool_clamp(0, p->act_min, p->act_max);
                    }
                    continue;
                }
                for (c = 0; c < ch4; c += 4) {
                    const int8_t *r = win + c;
                    int32_t ky, kx, a0, a1, a2, a3;
#ifdef TINYML_USE_DSP
                    if (count <= 256) {
                        /* 16-bit lanes: |sum| <= 256 * 128 = 2^15 only for a sum of -128s: -32768 fits */
                        uint32_t se = 0, so = 0;
                        for (ky = nky; ky > 0; --ky, r += row_step) {
                            const int8_t *t = r;
                            for (kx = nkx; kx > 0; --kx, t += ch) {
                                const uint32_t v = tinyml_ld32(t);
                                se = tinyml_sadd16(se, tinyml_sxtb16(v));
                                so = tinyml_sadd16(so, tinyml_sxtb16_ror8(v));
                            }
                        }
                        a0 = (int16_t)se, a2 = (int32_t)se >> 16, a1 = (int16_t)so, a3 = (int32_t)so >> 16;
                    } else
#endif
                    {
                        a0 = a1 = a2 = a3 = 0;
                        for (ky = nky; ky > 0; --ky, r += row_step) {
                            const int8_t *t = r;
                            for (kx = nkx; kx > 0; --kx, t += ch) {
                                a0 += t[0], a1 += t[1], a2 += t[2], a3 += t[3];
                            }
                        }
                    }
                    output[c] = (int8_t)pool_clamp(pool_avg(a0, count), p->act_min, p->act_max);
                    output[c + 1] = (int8_t)pool_clamp(pool_avg(a1, count), p->act_min, p->act_max);
                    output[c + 2] = (int8_t)pool_clamp(pool_avg(a2, count), p->act_min, p->act_max);
                    output[c + 3] = (int8_t)pool_clamp(pool_avg(a3, count), p->act_min, p->act_max);
                }
                for (; c < ch; ++c) {
                    const int8_t *r = win + c;
                    int32_t ky, kx, a = 0;
                    for (ky = nky; ky > 0; --ky, r += row_step) {
                        for (kx = 0; kx < nkx; ++kx) {
                            a += r[kx * ch];
                        }
                    }
                    output[c] = (int8_t)pool_clamp(pool_avg(a, count), p->act_min, p->act_max);
                }
            }
        }
    }
}

static void max_pool_fast(const tinyml_pool_params *p, const int8_t *input, int8_t *output)
{
    const int32_t ch = p->channels;
#ifdef TINYML_USE_DSP
    const int full = p->act_min <= -128 && p->act_max >= 127;
#endif
    int32_t b, oy, ox, c;
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * ch;
        for (oy = 0; oy < p->out_h; ++oy) {
            for (ox = 0; ox < p->out_w; ++ox, output += ch) {
                const pool_window w = pool_window_at(p, in_b, oy, ox);
                const int32_t nky = w.nky, nkx = w.nkx;
                const int32_t row_step = p->in_w * ch;
                const int8_t *win = w.win;
                c = 0;
#ifdef TINYML_USE_DSP
                if (full && nky > 0 && nkx > 0) {
                    /* SSUB8 sets each byte's GE flag when a >= b (signed), SEL then keeps a there:
                     * the max of 4 lanes in 2 instructions */
                    for (; c + 4 <= ch; c += 4) {
                        const int8_t *r = win + c;
                        uint32_t m = 0x80808080u; /* -128 in every lane */
                        int32_t ky, kx;
                        for (ky = nky; ky > 0; --ky, r += row_step) {
                            const int8_t *t = r;
                            for (kx = nkx; kx > 0; --kx, t += ch) {
                                const uint32_t v = tinyml_ld32(t);
                                uint32_t d;
                                __asm__("ssub8 %0, %1, %2" : "=r"(d) : "r"(v), "r"(m) : "cc");
                                __asm__("sel %0, %1, %2" : "=r"(m) : "r"(v), "r"(m), "r"(d) : "cc");
                            }
                        }
                        tinyml_st32(output + c, m);
                    }
                }
#endif
                for (; c + 4 <= ch; c += 4) {
                    const int8_t *r = win + c;
                    int32_t ky, kx, m0 = -128, m1 = -128, m2 = -128, m3 = -128;
                    for (ky = nky; ky > 0; --ky, r += row_step) {
                        const int8_t *t = r;
                        for (kx = nkx; kx > 0; --kx, t += ch) {
                            m0 = t[0] > m0 ? t[0] : m0;
                            m1 = t[1] > m1 ? t[1] : m1;
                            m2 = t[2] > m2 ? t[2] : m2;
                            m3 = t[3] > m3 ? t[3] : m3;
                        }
                    }
                    output[c] = (int8_t)pool_clamp(m0, p->act_min, p->act_max);
                    output[c + 1] = (int8_t)pool_clamp(m1, p->act_min, p->act_max);
                    output[c + 2] = (int8_t)pool_clamp(m2, p->act_min, p->act_max);
                    output[c + 3] = (int8_t)pool_clamp(m3, p->act_min, p->act_max);
                }
                for (; c < ch; ++c) {
                    const int8_t *r = win + c;
                    int32_t ky, kx, m = -128;
                    for (ky = nky; ky > 0; --ky, r += row_step) {
                        for (kx = 0; kx < nkx; ++kx) {
                            m = r[kx * ch] > m ? r[kx * ch] : m;
                        }
                    }
                    output[c] = (int8_t)pool_clamp(m, p->act_min, p->act_max);
                }
            }
        }
    }
}
#endif

void tinyml_avg_pool_s8(const tinyml_pool_params *params, const int8_t *input, int8_t *output)
{
    tinyml_pool_params p;
    int32_t b, oy, ox, c, ky, kx;
    TINYML_LOAD_PARAMS(p, params);
#ifdef TINYML_FAST
    avg_pool_fast(&p, input, output);
    return;
#endif
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
#ifdef TINYML_FAST
    max_pool_fast(&p, input, output);
    return;
#endif
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
