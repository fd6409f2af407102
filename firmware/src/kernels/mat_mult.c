/* The matrix-multiply core of the fast conv / fully-connected paths (see kernels_fast.h):
 * one or two cols (output pixels) times every filter row, two rows at a time, then
 * requantization with the per-channel constants loaded once per row pair. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST

int tinyml_requant_plan(const int32_t *bias, const int8_t *shift, int32_t channels, int32_t per_channel,
                        int32_t max_abs_acc)
{
    int32_t c, max_bias = 0;
    const int32_t nq = per_channel ? channels : 1;
    for (c = 0; c < nq; ++c) {
        if (shift[c] >= 0 || shift[c] < -31) { /* right shift 0 (or > 31): the general path */
            return 0;
        }
    }
    for (c = 0; bias && c < channels; ++c) {
        if (bias[c] <= -(INT32_C(1) << 29) || bias[c] >= (INT32_C(1) << 29)) {
            return 0;
        }
        max_bias = bias[c] < 0 ? (-bias[c] > max_bias ? -bias[c] : max_bias) : (bias[c] > max_bias ? bias[c] : max_bias);
    }
    /* |acc| < 2^29 gives |y| <= 2^29, so y + 2^(rs-1) <= 2^29 + 2^30 cannot overflow */
    return max_abs_acc >= 0 && max_abs_acc < (INT32_C(1) << 29) && max_abs_acc + max_bias < (INT32_C(1) << 29);
}

int tinyml_mm_prepare(tinyml_mm_args *a)
{
    /* |x + in_offset| <= 255, |w| <= 128 */
    a->short_requant = a->k <= (INT32_C(1) << 29) / (255 * 128) &&
                       tinyml_requant_plan(a->bias, a->shift, a->out_c, a->per_channel, a->k * 255 * 128);
    return a->short_requant;
}

void tinyml_col_put(tinyml_col *col, int32_t n, int32_t k_total, int32_t i, int32_t k0, const int8_t *src,
                    int32_t count, int32_t in_offset)
{
#ifdef TINYML_USE_DSP
    const int32_t groups = k_total >> 2;
    int32_t j = 0;
    if ((k0 & 3) == 0) {
        /* whole groups: two words per 4 inputs, SXTB16 + SADD16 (the offset in both halves) */
        const uint32_t off2 = ((uint32_t)in_offset & 0xFFFFu) * 0x10001u;
        uint32_t *w = col->w + (k0 >> 2) * 2 * n + 2 * i;
        for (; j + 4 <= count && k0 + j + 4 <= 4 * groups; j += 4) {
            if (src) {
                const uint32_t x = tinyml_ld32(src + j);
                w[0] = tinyml_sadd16(tinyml_sxtb16(x), off2);
                w[1] = tinyml_sadd16(tinyml_sxtb16_ror8(x), off2);
            } else {
                w[0] = 0;
                w[1] = 0;
            }
            w += 2 * n;
        }
    }
    for (; j < count; ++j) {
        const int32_t k = k0 + j, g = k >> 2, r = k & 3;
        const int16_t v = (int16_t)(src ? src[j] + in_offset : 0);
        if (g < groups) {
            col->h[2 * (g * 2 * n + 2 * i + (r & 1)) + (r >> 1)] = v;
        } else {
            col->h[4 * n * groups + 4 * i + r] = v;
        }
    }
#else
    int16_t *dst = col->h + i * k_total + k0;
    int32_t j;
    (void)n;
    if (!src) {
        memset(dst, 0, (size_t)count * sizeof(*dst));
        return;
    }
    for (j = 0; j < count; ++j) {
        dst[j] = (int16_t)(src[j] + in_offset);
    }
#endif
}

/* Dot products of filter rows f0, f1 with one or two cols: r = {a.f0, a.f1, b.f0, b.f1}. */
static inline void dot_pair(const int8_t *f0, const int8_t *f1, const tinyml_col *col, int32_t k, int32_t *r)
{
    int32_t a0 = 0, a1 = 0, b0 = 0, b1 = 0;
    int32_t j;
#ifdef TINYML_USE_DSP
    const uint32_t *pc = col->w;
    const int16_t *ta = col->h + 4 * 2 * (k >> 2), *tb = ta + 4;
    if (k >> 2) {
        /* 16 MACs in 17 instructions plus the loop's 2 per 32 MACs (unrolled twice), 12 registers:
         * GCC's own schedule spilled accumulators. An odd group count runs one body first. */
        const uint32_t *end = pc + 4 * (k >> 2);
        uint32_t w, we, x, y;
#define TINYML_MM_BODY                                    \
        "ldr %[w], [%[f0]], #4\n\t"                       \
        "sxtb16 %[we], %[w]\n\t"                          \
        "sxtb16 %[w], %[w], ror #8\n\t"                   \
        "ldrd %[x], %[y], [%[pc]]\n\t"                    \
        "smlad %[a0], %[we], %[x], %[a0]\n\t"             \
        "smlad %[a0], %[w], %[y], %[a0]\n\t"              \
        "ldrd %[x], %[y], [%[pc], #8]\n\t"                \
        "smlad %[b0], %[we], %[x], %[b0]\n\t"             \
        "smlad %[b0], %[w], %[y], %[b0]\n\t"              \
        "ldr %[w], [%[f1]], #4\n\t"                       \
        "sxtb16 %[we], %[w]\n\t"                          \
        "sxtb16 %[w], %[w], ror #8\n\t"                   \
        "smlad %[b1], %[we], %[x], %[b1]\n\t"             \
        "smlad %[b1], %[w], %[y], %[b1]\n\t"              \
        "ldrd %[x], %[y], [%[pc]], #16\n\t"               \
        "smlad %[a1], %[we], %[x], %[a1]\n\t"             \
        "smlad %[a1], %[w], %[y], %[a1]\n\t"
#define TINYML_MM_OPERANDS                                                                                \
        : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [pc] "+r"(pc), [f0] "+r"(f0),       \
          [f1] "+r"(f1), [w] "=&r"(w), [we] "=&r"(we), [x] "=&r"(x), [y] "=&r"(y)                           \
        : [end] "r"(end)                                                                                  \
        : "cc", "memory"
        if ((k >> 2) & 1) {
            __asm__ volatile(TINYML_MM_BODY TINYML_MM_OPERANDS);
        }
        if (pc != end) {
            __asm__ volatile("1:\n\t" TINYML_MM_BODY TINYML_MM_BODY "cmp %[pc], %[end]\n\t"
                             "bne 1b" TINYML_MM_OPERANDS);
        }
#undef TINYML_MM_BODY
#undef TINYML_MM_OPERANDS
    }
    k &= 3;
#else
    const int16_t *ta = col->h, *tb = col->h + k;
    for (j = k >> 2; j > 0; --j) { /* 4 k per pass: the pointer updates once per 16 MACs */
        int32_t x = ta[0], y = tb[0], w0 = f0[0], w1 = f1[0];
        a0 += w0 * x;
        b0 += w0 * y;
        a1 += w1 * x;
        b1 += w1 * y;
        x = ta[1], y = tb[1], w0 = f0[1], w1 = f1[1];
        a0 += w0 * x;
        b0 += w0 * y;
        a1 += w1 * x;
        b1 += w1 * y;
        x = ta[2], y = tb[2], w0 = f0[2], w1 = f1[2];
        a0 += w0 * x;
        b0 += w0 * y;
        a1 += w1 * x;
        b1 += w1 * y;
        x = ta[3], y = tb[3], w0 = f0[3], w1 = f1[3];
        a0 += w0 * x;
        b0 += w0 * y;
        a1 += w1 * x;
        b1 += w1 * y;
        ta += 4;
        tb += 4;
        f0 += 4;
        f1 += 4;
    }
    k &= 3;
#endif
    for (j = 0; j < k; ++j) {
        a0 += f0[j] * ta[j];
        b0 += f0[j] * tb[j];
        a1 += f1[j] * ta[j];
        b1 += f1[j] * tb[j];
    }
    r[0] = a0;
    r[1] = a1;
    r[2] = b0;
    r[3] = b1;
}

static inline void dot_one(const int8_t *f0, const int8_t *f1, const tinyml_col *col, int32_t k, int32_t *r)
{
    int32_t a0 = 0, a1 = 0;
    int32_t j;
#ifdef TINYML_USE_DSP
    const uint32_t *pc = col->w;
    const int16_t *ta = col->h + 4 * (k >> 2);
    if (k >> 2) {
        /* 8 MACs in 13 instructions */
        const uint32_t *end = pc + 2 * (k >> 2);
        uint32_t w, we, x, y;
        __asm__ volatile(
            "1:\n\t"
            "ldrd %[x], %[y], [%[pc]], #8\n\t"
            "ldr %[w], [%[f0]], #4\n\t"
            "sxtb16 %[we], %[w]\n\t"
            "sxtb16 %[w], %[w], ror #8\n\t"
            "smlad %[a0], %[we], %[x], %[a0]\n\t"
            "smlad %[a0], %[w], %[y], %[a0]\n\t"
            "ldr %[w], [%[f1]], #4\n\t"
            "sxtb16 %[we], %[w]\n\t"
            "sxtb16 %[w], %[w], ror #8\n\t"
            "smlad %[a1], %[we], %[x], %[a1]\n\t"
            "smlad %[a1], %[w], %[y], %[a1]\n\t"
            "cmp %[pc], %[end]\n\t"
            "bne 1b"
            : [a0] "+r"(a0), [a1] "+r"(a1), [pc] "+r"(pc), [f0] "+r"(f0), [f1] "+r"(f1), [w] "=&r"(w),
              [we] "=&r"(we), [x] "=&r"(x), [y] "=&r"(y)
            : [end] "r"(end)
            : "cc", "memory");
    }
    k &= 3;
#else
    const int16_t *ta = col->h;
    for (j = k >> 2; j > 0; --j) {
        int32_t x = ta[0];
        a0 += f0[0] * x;
        a1 += f1[0] * x;
        x = ta[1];
        a0 += f0[1] * x;
        a1 += f1[1] * x;
        x = ta[2];
        a0 += f0[2] * x;
        a1 += f1[2] * x;
        x = ta[3];
        a0 += f0[3] * x;
        a1 += f1[3] * x;
        ta += 4;
        f0 += 4;
        f1 += 4;
    }
    k &= 3;
#endif
    for (j = 0; j < k; ++j) {
        a0 += f0[j] * ta[j];
        a1 += f1[j] * ta[j];
    }
    r[0] = a0;
    r[1] = a1;
}

/* One output value with tinyml_requant_short. mode 1: clamp to [lo, hi]; 2: the clamp is the
 * whole int8 range (one SSAT). Constant at every call site: each mm_rows copy has one path.
 * (Layers that need the general requantization never get here: tinyml_mm_prepare.) */
TINYML_INLINE int8_t rq(int32_t acc, int32_t m, int s, int32_t off, int32_t lo, int32_t hi, const int mode)
{
    int32_t v = tinyml_requant_short(acc, m, -s, INT32_C(1) << (-s - 1), off);
    if (mode == 2) {
        return (int8_t)tinyml_sat8(v);
    }
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

TINYML_INLINE void mm_rows(const tinyml_mm_args *p, const tinyml_col *col, int32_t n, int8_t *out0, int8_t *out1,
                           const int mode)
{
    /* Everything in locals: the int8 output stores may alias any memory, so fields read through
     * p would be reloaded after every store. Pointers walk; no index products in the loop. */
    const int32_t k = p->k, out_c = p->out_c, qs = p->per_channel ? 1 : 0;
    const int32_t off = p->out_offset, lo = p->act_min, hi = p->act_max;
    const int8_t *f = p->filter;
    const int32_t *bias = p->bias;
    const int32_t *mult = p->multiplier;
    const int8_t *shift = p->shift;
    int32_t c;
    for (c = 0; c + 2 <= out_c; c += 2) {
        const int32_t m0 = mult[0], m1 = mult[qs];
        const int s0 = shift[0], s1 = shift[qs];
        const int32_t b0 = bias ? bias[0] : 0, b1 = bias ? bias[1] : 0;
        int32_t r[4];
        if (n == 2) {
            dot_pair(f, f + k, col, k, r);
            out0[c] = rq(r[0] + b0, m0, s0, off, lo, hi, mode);
            out0[c + 1] = rq(r[1] + b1, m1, s1, off, lo, hi, mode);
            out1[c] = rq(r[2] + b0, m0, s0, off, lo, hi, mode);
            out1[c + 1] = rq(r[3] + b1, m1, s1, off, lo, hi, mode);
        } else {
            dot_one(f, f + k, col, k, r);
            out0[c] = rq(r[0] + b0, m0, s0, off, lo, hi, mode);
            out0[c + 1] = rq(r[1] + b1, m1, s1, off, lo, hi, mode);
        }
        f += 2 * k;
        mult += 2 * qs;
        shift += 2 * qs;
        bias = bias ? bias + 2 : bias;
    }
    if (c < out_c) { /* an odd last row pairs with itself; its second results are dropped */
        const int32_t m0 = mult[0];
        const int s0 = shift[0];
        const int32_t b0 = bias ? bias[0] : 0;
        int32_t r[4];
        if (n == 2) {
            dot_pair(f, f, col, k, r);
            out0[c] = rq(r[0] + b0, m0, s0, off, lo, hi, mode);
            out1[c] = rq(r[2] + b0, m0, s0, off, lo, hi, mode);
        } else {
            dot_one(f, f, col, k, r);
            out0[c] = rq(r[0] + b0, m0, s0, off, lo, hi, mode);
        }
    }
}

void tinyml_mm_s8(const tinyml_mm_args *p, const tinyml_col *col, int32_t n, int8_t *out0, int8_t *out1)
{
    if (p->act_min <= -128 && p->act_max >= 127) {
        mm_rows(p, col, n, out0, out1, 2);
    } else {
        mm_rows(p, col, n, out0, out1, 1);
    }
}

#else
typedef int tinyml_mat_mult_unused; /* ISO C: a translation unit is not empty */
#endif
