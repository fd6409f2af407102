/* The matrix-multiply core of the conv / fully-connected fast path (kernels_fast.h: layouts,
 * requantization records; tinyml/codegen/aot/ops/_mm.py: the generation-time plan and its
 * proofs): one or two cols (output pixels) times every filter row pair, requantized with the
 * row pair's record. One function per requantization variant, so a model links only its own. */
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

/* floor((acc * 2^ls * m + 2^30) / 2^31): gemmlowp's SaturatingRoundingDoublingHighMul of
 * acc << ls (see tinyml_fast_mbqm); the generator checks |acc << (ls + 1)| < 2^31. */
TINYML_INLINE int32_t mm_mulhi(int32_t acc, int32_t m, int ls)
{
#ifdef TINYML_USE_DSP
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"((int32_t)((uint32_t)acc << (ls + 1))), "r"(m));
    return r;
#else
    return (int32_t)(((int64_t)(int32_t)((uint32_t)acc << ls) * m + (INT64_C(1) << 30)) >> 31);
#endif
}

/* One output (kernels_fast.h): lmode 0 = variant "r", 1 = "l"; sat 1 = "sat", 0 = "clamp". */
#ifndef TINYML_USE_DSP
/* mm_mulhi(acc, m, ls) + c in one 64-bit multiply-accumulate (SMLAL on Cortex-M3/M4): the high
 * word of c * 2^32 + 2^31 + (acc << (ls + 1)) * m is floor((acc * 2^ls * m + 2^30) / 2^31) + c. */
TINYML_INLINE int32_t mm_mulhi_add(int32_t acc, int32_t m, int ls, int32_t c)
{
    const int64_t t = (int64_t)(((uint64_t)(uint32_t)c << 32) | UINT32_C(0x80000000)) +
                      (int64_t)(int32_t)((uint32_t)acc << (ls + 1)) * m;
    return (int32_t)(t >> 32);
}
#endif

/* One output (kernels_fast.h): lmode 0 = variant "r", 1 = "l"; sat 1 = "sat", 0 = "clamp".
 * Portable C adds acc >> 31 for y >> 31 in variant r: they differ only when y == 0 and acc < 0,
 * and then (c - 1) >> s == c >> s (c = 2^(s-1) + out_offset * 2^s, s >= 1). */
TINYML_INLINE int8_t mm_rq(int32_t acc, int32_t m, int32_t c, int32_t s, int32_t lo, int32_t hi, const int lmode,
                           const int sat)
{
    int32_t v;
#ifdef TINYML_USE_DSP
    if (lmode) {
        v = mm_mulhi(acc, m, (int)s) + c;
    } else {
        const int32_t y = mm_mulhi(acc, m, 0);
        v = (y + c + (y >> 31)) >> s;
    }
#else
    if (lmode) {
        v = mm_mulhi_add(acc, m, (int)s, c);
    } else {
        v = (mm_mulhi_add(acc, m, 0, c) + (acc >> 31)) >> s;
    }
#endif
    if (sat) {
        return (int8_t)tinyml_sat8(v);
    }
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int8_t)v;
}

/* The outputs of a row pair: every value before the first store (an int8 store may alias rq,
 * which would then be read again). The second row is a padding row when !second. */
TINYML_INLINE void mm_store2(int8_t *o0, int8_t *o1, int32_t a0, int32_t a1, int32_t b0, int32_t b1, const int32_t *rq,
                             int second, int32_t lo, int32_t hi, const int lmode, const int sat)
{
    const int32_t m0 = rq[2], c0 = rq[3], s0 = rq[4], m1 = rq[5], c1 = rq[6], s1 = rq[7];
    const int8_t va0 = mm_rq(a0, m0, c0, s0, lo, hi, lmode, sat), vb0 = mm_rq(b0, m0, c0, s0, lo, hi, lmode, sat);
    const int8_t va1 = mm_rq(a1, m1, c1, s1, lo, hi, lmode, sat), vb1 = mm_rq(b1, m1, c1, s1, lo, hi, lmode, sat);
    o0[0] = va0;
    o1[0] = vb0;
    if (second) {
        o0[1] = va1;
        o1[1] = vb1;
    }
}

TINYML_INLINE void mm_store1(int8_t *o0, int32_t a0, int32_t a1, const int32_t *rq, int second, int32_t lo, int32_t hi,
                             const int lmode, const int sat)
{
    const int32_t m0 = rq[2], c0 = rq[3], s0 = rq[4], m1 = rq[5], c1 = rq[6], s1 = rq[7];
    const int8_t va0 = mm_rq(a0, m0, c0, s0, lo, hi, lmode, sat), va1 = mm_rq(a1, m1, c1, s1, lo, hi, lmode, sat);
    o0[0] = va0;
    if (second) {
        o0[1] = va1;
    }
}

#ifdef TINYML_USE_DSP
/* Rows f (pair-interleaved) times two cols: 16 MACs in 16 instructions per group of 4 inputs
 * (one weight word per row, two SXTB16, two LDRD for both pixels' col words, 8 SMLAD), plus
 * the loop's 2 per four groups. Accumulators come in holding the biases. */
#define TINYML_MM22_BODY                              \
    "ldr %[w], [%[f]], #4\n\t"                        \
    "ldrd %[xa], %[ya], [%[pc]], #16\n\t"             \
    "ldrd %[xb], %[yb], [%[pc], #-8]\n\t"             \
    "sxtb16 %[we], %[w]\n\t"                          \
    "sxtb16 %[w], %[w], ror #8\n\t"                   \
    "smlad %[a0], %[we], %[xa], %[a0]\n\t"            \
    "smlad %[a0], %[w], %[ya], %[a0]\n\t"             \
    "smlad %[b0], %[we], %[xb], %[b0]\n\t"            \
    "smlad %[b0], %[w], %[yb], %[b0]\n\t"             \
    "ldr %[w], [%[f]], #4\n\t"                        \
    "sxtb16 %[we], %[w]\n\t"                          \
    "sxtb16 %[w], %[w], ror #8\n\t"                   \
    "smlad %[a1], %[we], %[xa], %[a1]\n\t"            \
    "smlad %[a1], %[w], %[ya], %[a1]\n\t"             \
    "smlad %[b1], %[we], %[xb], %[b1]\n\t"            \
    "smlad %[b1], %[w], %[yb], %[b1]\n\t"
/* out = ssat8((y + k + (y >> 31)) >> sh) with y = SMMULR(2 acc, m), stored at [o], o += 1.
 * SMMLAR adds k to the rounded high word (exactly y + k), and y >> 31 is acc >> 31: with m > 0, y
 * and acc have the same sign unless y == 0, and then (k - 1) >> sh == k >> sh because
 * k = 2^(sh-1) + out_offset * 2^sh (m == 0 gives y == 0 too). */
#define TINYML_MM_RQ_SAT(acc, o)                            \
    "lsl %[" acc "], %[" acc "], #1\n\t"                    \
    "smmlar %[t], %[" acc "], %[m], %[k]\n\t"               \
    "add %[t], %[t], %[" acc "], asr #31\n\t"               \
    "asr %[t], %[t], %[sh]\n\t"                             \
    "ssat %[t], #8, %[t]\n\t"                               \
    "strb %[t], [%[" o "]], #1\n\t"
#define TINYML_MM22_OPERANDS                                                                                   \
    : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [pc] "+r"(pc), [f] "+r"(f), [w] "=&r"(w),    \
      [we] "=&r"(we), [xa] "=&r"(xa), [ya] "=&r"(ya), [xb] "=&r"(xb), [yb] "=&r"(yb)                           \
    : [end] "r"(end)                                                                                           \
    : "cc", "memory"

/* Rows f times one col: 8 MACs in 11 instructions per group. */
#define TINYML_MM21_BODY                              \
    "ldrd %[xa], %[ya], [%[pc]], #8\n\t"              \
    "ldr %[w], [%[f]], #4\n\t"                        \
    "sxtb16 %[we], %[w]\n\t"                          \
    "sxtb16 %[w], %[w], ror #8\n\t"                   \
    "smlad %[a0], %[we], %[xa], %[a0]\n\t"            \
    "smlad %[a0], %[w], %[ya], %[a0]\n\t"             \
    "ldr %[w], [%[f]], #4\n\t"                        \
    "sxtb16 %[we], %[w]\n\t"                          \
    "sxtb16 %[w], %[w], ror #8\n\t"                   \
    "smlad %[a1], %[we], %[xa], %[a1]\n\t"            \
    "smlad %[a1], %[w], %[ya], %[a1]\n\t"
#define TINYML_MM21_OPERANDS                                                                                   \
    : [a0] "+r"(a0), [a1] "+r"(a1), [pc] "+r"(pc), [f] "+r"(f), [w] "=&r"(w), [we] "=&r"(we), [xa] "=&r"(xa), \
      [ya] "=&r"(ya)                                                                                           \
    : [end] "r"(end)                                                                                           \
    : "cc", "memory"
#endif

#ifdef TINYML_USE_DSP
/* The r_sat requantization of a 2x2 block (rows a/b = pixels, 0/1 = the row pair's channels),
 * storing to o0 / o1 and advancing them: the ending of both mm22_r_sat loops below. */
#define TINYML_MM22_RQ_SAT_PAIR()                                                                        \
    __asm__ volatile("ldrd %[m], %[k], [%[rq], #8]\n\t"                                                  \
                     "ldr %[sh], [%[rq], #16]\n\t" TINYML_MM_RQ_SAT("a0", "o0") TINYML_MM_RQ_SAT("b0", "o1") \
                     "ldrd %[m], %[k], [%[rq], #20]\n\t"                                                 \
                     "ldr %[sh], [%[rq], #28]\n\t" TINYML_MM_RQ_SAT("a1", "o0") TINYML_MM_RQ_SAT("b1", "o1") \
                     : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [o0] "+r"(o0),             \
                       [o1] "+r"(o1), [m] "=&r"(m), [k] "=&r"(k), [sh] "=&r"(sh), [t] "=&r"(t)               \
                     : [rq] "r"(rq)                                                                       \
                     : "memory")

/* The common conv layer (variant r_sat, two pixels, groups % 4 == 0, an even out_c): per row pair
 * only the unrolled MAC loop and the requantization; the loop state GCC spills around them is
 * the least a row pair needs (about 12 instructions besides 64 per 4 groups and 24 per 4 outputs). */
static void mm22_r_sat4(const int8_t *f, const int32_t *rq, int32_t pairs, const uint32_t *col, const uint32_t *end,
                        int8_t *o0, int8_t *o1)
{
    do {
        int32_t a0 = rq[0], a1 = rq[1], b0 = a0, b1 = a1;
        const uint32_t *pc = col;
        uint32_t w, we, xa, ya, xb, yb, m, k, sh, t;
        __asm__ volatile("1:\n\t" TINYML_MM22_BODY TINYML_MM22_BODY TINYML_MM22_BODY TINYML_MM22_BODY
                         "cmp %[pc], %[end]\n\t"
                         "bne 1b" TINYML_MM22_OPERANDS);
        TINYML_MM22_RQ_SAT_PAIR();
        rq += 8;
    } while (--pairs);
}

/* The same for groups % 4 != 0 (k = 8 pointwise layers, 3x3x3 first layers): 1 and 2 groups
 * before the loop. */
static void mm22_r_sat(const int8_t *f, const int32_t *rq, int32_t pairs, const uint32_t *col, int32_t groups,
                       int8_t *o0, int8_t *o1)
{
    const uint32_t *end = col + 4 * groups;
    do {
        int32_t a0 = rq[0], a1 = rq[1], b0 = a0, b1 = a1;
        const uint32_t *pc = col;
        uint32_t w, we, xa, ya, xb, yb, m, k, sh, t;
        if (groups & 1) {
            __asm__ volatile(TINYML_MM22_BODY TINYML_MM22_OPERANDS);
        }
        if (groups & 2) {
            __asm__ volatile(TINYML_MM22_BODY TINYML_MM22_BODY TINYML_MM22_OPERANDS);
        }
        if (pc != end) {
            __asm__ volatile("1:\n\t" TINYML_MM22_BODY TINYML_MM22_BODY TINYML_MM22_BODY TINYML_MM22_BODY
                             "cmp %[pc], %[end]\n\t"
                             "bne 1b" TINYML_MM22_OPERANDS);
        }
        TINYML_MM22_RQ_SAT_PAIR();
        rq += 8;
    } while (--pairs);
}
#endif

/* Portable 2x2 step: inputs xa[o..o+3], xb[o..o+3] times weights f[fo..fo+3] (row 0) and
 * f[fo+4..fo+7] (row 1), unrolled: PORT22_K is one k of it. */
#define PORT22_K(o, fo)                                                                                        \
    do {                                                                                                       \
        const int32_t x_ = xa[(o)], y_ = xb[(o)], w0_ = f[(fo)], w1_ = f[(fo) + 4];                            \
        a0 += w0_ * x_;                                                                                        \
        b0 += w0_ * y_;                                                                                        \
        a1 += w1_ * x_;                                                                                        \
        b1 += w1_ * y_;                                                                                        \
    } while (0)
#define PORT22(o, fo)                                                                                          \
    do {                                                                                                       \
        PORT22_K((o), (fo));                                                                                   \
        PORT22_K((o) + 1, (fo) + 1);                                                                           \
        PORT22_K((o) + 2, (fo) + 2);                                                                           \
        PORT22_K((o) + 3, (fo) + 3);                                                                           \
    } while (0)

TINYML_INLINE void mm_body(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1,
                           const int lmode, const int sat)
{
    /* Everything in locals: the int8 output stores may alias any memory, so fields read through
     * p would be reloaded after every store. */
    const int32_t k4 = p->k4, out_c = p->out_c, lo = p->act_min, hi = p->act_max;
    const int8_t *f = p->filter;
    const int32_t *rq = p->rq;
    int32_t c;
#ifdef TINYML_USE_DSP
    const uint32_t *col = (const uint32_t *)a;
    const int32_t groups = k4 >> 2;
    if (b) {
        int8_t *o0 = out0, *o1 = out1;
        if (!lmode && sat && (out_c & 1) == 0) {
            if ((groups & 3) == 0) {
                mm22_r_sat4(f, rq, out_c >> 1, col, col + 4 * groups, out0, out1);
            } else {
                mm22_r_sat(f, rq, out_c >> 1, col, groups, out0, out1);
            }
            return;
        }
        for (c = 0; c < out_c; c += 2, rq += 8) {
            int32_t a0 = rq[0], a1 = rq[1], b0 = a0, b1 = a1;
            const uint32_t *pc = col, *end = col + 4 * groups;
            uint32_t w, we, xa, ya, xb, yb;
            if (groups & 1) {
                __asm__ volatile(TINYML_MM22_BODY TINYML_MM22_OPERANDS);
            }
            if (groups & 2) {
                __asm__ volatile(TINYML_MM22_BODY TINYML_MM22_BODY TINYML_MM22_OPERANDS);
            }
            if (pc != end) { /* unrolled 4 times: the loop costs 2 instructions per 64 MACs */
                __asm__ volatile("1:\n\t" TINYML_MM22_BODY TINYML_MM22_BODY TINYML_MM22_BODY TINYML_MM22_BODY
                                 "cmp %[pc], %[end]\n\t"
                                 "bne 1b" TINYML_MM22_OPERANDS);
            }
            if (!lmode && sat && c + 1 < out_c) {
                /* variant r_sat, 6 instructions per output: GCC's schedule reloaded the
                 * output pointers from the stack around every store */
                uint32_t m, k, sh, t;
                __asm__ volatile(
                    "ldrd %[m], %[k], [%[rq], #8]\n\t"
                    "ldr %[sh], [%[rq], #16]\n\t"
                    TINYML_MM_RQ_SAT("a0", "o0") TINYML_MM_RQ_SAT("b0", "o1")
                    "ldrd %[m], %[k], [%[rq], #20]\n\t"
                    "ldr %[sh], [%[rq], #28]\n\t"
                    TINYML_MM_RQ_SAT("a1", "o0") TINYML_MM_RQ_SAT("b1", "o1")
                    : [a0] "+r"(a0), [a1] "+r"(a1), [b0] "+r"(b0), [b1] "+r"(b1), [o0] "+r"(o0), [o1] "+r"(o1),
                      [m] "=&r"(m), [k] "=&r"(k), [sh] "=&r"(sh), [t] "=&r"(t)
                    : [rq] "r"(rq)
                    : "memory");
            } else {
                mm_store2(o0, o1, a0, a1, b0, b1, rq, c + 1 < out_c, lo, hi, lmode, sat);
                o0 += 2;
                o1 += 2;
            }
        }
    } else {
        for (c = 0; c < out_c; c += 2, rq += 8) {
            int32_t a0 = rq[0], a1 = rq[1];
            const uint32_t *pc = col, *end = col + 2 * groups;
            uint32_t w, we, xa, ya;
            if (groups & 1) {
                __asm__ volatile(TINYML_MM21_BODY TINYML_MM21_OPERANDS);
            }
            if (pc != end) {
                __asm__ volatile("1:\n\t" TINYML_MM21_BODY TINYML_MM21_BODY "cmp %[pc], %[end]\n\t"
                                 "bne 1b" TINYML_MM21_OPERANDS);
            }
            mm_store1(out0 + c, a0, a1, rq, c + 1 < out_c, lo, hi, lmode, sat);
        }
    }
#else
    const int8_t *xa0 = (const int8_t *)a;
    if (b) {
        const int8_t *xb0 = (const int8_t *)b;
        for (c = 0; c < out_c; c += 2, rq += 8) {
            int32_t a0 = rq[0], a1 = rq[1], b0 = a0, b1 = a1;
            const int8_t *xa = xa0, *xb = xb0, *end = xa0 + k4;
            if (k4 & 4) { /* an odd group first */
                PORT22(0, 0);
                xa += 4;
                xb += 4;
                f += 8;
            }
            while (xa != end) { /* two groups per pass: the pointer updates once per 32 MACs */
                PORT22(0, 0);
                PORT22(4, 8);
                xa += 8;
                xb += 8;
                f += 16;
            }
            mm_store2(out0 + c, out1 + c, a0, a1, b0, b1, rq, c + 1 < out_c, lo, hi, lmode, sat);
        }
    } else {
        c = 0;
        for (; c + 4 <= out_c; c += 4, rq += 16) { /* two row pairs per pass share each input load */
            int32_t a0 = rq[0], a1 = rq[1], a2 = rq[8], a3 = rq[9];
            const int8_t *xa = xa0, *end = xa0 + k4, *g = f + 2 * k4;
            do {
                int32_t x = xa[0];
                a0 += f[0] * x;
                a1 += f[4] * x;
                a2 += g[0] * x;
                a3 += g[4] * x;
                x = xa[1];
                a0 += f[1] * x;
                a1 += f[5] * x;
                a2 += g[1] * x;
                a3 += g[5] * x;
                x = xa[2];
                a0 += f[2] * x;
                a1 += f[6] * x;
                a2 += g[2] * x;
                a3 += g[6] * x;
                x = xa[3];
                a0 += f[3] * x;
                a1 += f[7] * x;
                a2 += g[3] * x;
                a3 += g[7] * x;
                xa += 4;
                f += 8;
                g += 8;
            } while (xa != end);
            f = g;
            mm_store1(out0 + c, a0, a1, rq, 1, lo, hi, lmode, sat);
            mm_store1(out0 + c + 2, a2, a3, rq + 8, c + 3 < out_c, lo, hi, lmode, sat);
        }
        for (; c + 1 < out_c; c += 2, rq += 8) {
            int32_t a0 = rq[0], a1 = rq[1];
            const int8_t *xa = xa0, *end = xa0 + k4;
            do {
                int32_t x = xa[0];
                a0 += f[0] * x;
                a1 += f[4] * x;
                x = xa[1];
                a0 += f[1] * x;
                a1 += f[5] * x;
                x = xa[2];
                a0 += f[2] * x;
                a1 += f[6] * x;
                x = xa[3];
                a0 += f[3] * x;
                a1 += f[7] * x;
                xa += 4;
                f += 8;
            } while (xa != end);
            mm_store1(out0 + c, a0, a1, rq, 1, lo, hi, lmode, sat);
        }
        if (c < out_c) { /* an odd last row: its pair's padding row is not multiplied (16 -> 1 layers) */
            int32_t a0 = rq[0];
            const int8_t *xa = xa0, *end = xa0 + k4;
            do {
                a0 += f[0] * xa[0] + f[1] * xa[1] + f[2] * xa[2] + f[3] * xa[3];
                xa += 4;
                f += 8;
            } while (xa != end);
            out0[c] = mm_rq(a0, rq[2], rq[3], rq[4], lo, hi, lmode, sat);
        }
    }
#endif
}

void tinyml_mm_r_sat(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1)
{
    mm_body(p, a, b, out0, out1, 0, 1);
}

void tinyml_mm_r_clamp(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1)
{
    mm_body(p, a, b, out0, out1, 0, 0);
}

void tinyml_mm_l_sat(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1)
{
    mm_body(p, a, b, out0, out1, 1, 1);
}

void tinyml_mm_l_clamp(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1)
{
    mm_body(p, a, b, out0, out1, 1, 0);
}

/* FULLY_CONNECTED, depth 1..4 (kernels_fast.h: tinyml_fc_small_params). One loop per depth so
 * the weights of a record are plain int32 loads and the inputs live in registers; counted
 * loops, so nothing is computed for the depths a layer does not have. */
TINYML_INLINE void fc_small_depth(const tinyml_fc_small_params *p, const int8_t *x, int8_t *o, const int depth,
                                  const int lmode, const int sat)
{
    const int32_t units = p->units, lo = p->act_min, hi = p->act_max;
    const int32_t *rec = p->rec;
    int32_t b = p->batches;
    do {
        const int32_t x0 = x[0], x1 = depth > 1 ? x[1] : 0, x2 = depth > 2 ? x[2] : 0, x3 = depth > 3 ? x[3] : 0;
        const int32_t *r = rec;
        int32_t n = units;
        do {
            int32_t acc = r[0] + r[4] * x0;
            if (depth > 1) {
                acc += r[5] * x1;
            }
            if (depth > 2) {
                acc += r[6] * x2;
            }
            if (depth > 3) {
                acc += r[7] * x3;
            }
            *o++ = mm_rq(acc, r[1], r[2], r[3], lo, hi, lmode, sat);
            r += 4 + depth;
        } while (--n);
        x += depth;
    } while (--b);
}

TINYML_INLINE void fc_small_body(const tinyml_fc_small_params *p, const int8_t *x, int8_t *o, const int lmode,
                                 const int sat)
{
    switch (p->depth) {
    case 1:
        fc_small_depth(p, x, o, 1, lmode, sat);
        break;
    case 2:
        fc_small_depth(p, x, o, 2, lmode, sat);
        break;
    case 3:
        fc_small_depth(p, x, o, 3, lmode, sat);
        break;
    default:
        fc_small_depth(p, x, o, 4, lmode, sat);
        break;
    }
}

void tinyml_fc_small_r_sat(const tinyml_fc_small_params *p, const int8_t *input, int8_t *output)
{
    fc_small_body(p, input, output, 0, 1);
}

void tinyml_fc_small_r_clamp(const tinyml_fc_small_params *p, const int8_t *input, int8_t *output)
{
    fc_small_body(p, input, output, 0, 0);
}

void tinyml_fc_small_l_sat(const tinyml_fc_small_params *p, const int8_t *input, int8_t *output)
{
    fc_small_body(p, input, output, 1, 1);
}

void tinyml_fc_small_l_clamp(const tinyml_fc_small_params *p, const int8_t *input, int8_t *output)
{
    fc_small_body(p, input, output, 1, 0);
}

#else
typedef int tinyml_mat_mult_unused; /* ISO C: a translation unit is not empty */
#endif
