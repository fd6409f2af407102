/* Fast paths shared by the conv-like int8 kernels (conv.c, depthwise_conv.c, fully_connected.c).
 *
 * Bit-exact with the reference loops (and so with TFLM): integer sums are reordered only, and
 * the requantization below is the same function as fixedpoint.h's, written so it compiles to
 * fewer instructions.
 *
 * - TINYML_FAST: the fast paths exist (not on AVR, whose weights are PROGMEM and read through
 *   TINYML_READ_*; the reference loops stay the AVR path).
 * - TINYML_USE_DSP: Cortex-M DSP extension (SXTB16 + SMLAD: two 16-bit MACs per instruction),
 *   on when the compiler targets a core with it (__ARM_FEATURE_DSP: M4, M7, M33...) unless the
 *   build defines TINYML_NO_DSP (to measure or test the portable C paths on such a core).
 *
 * Column format ("col"): the int8 inputs of one output pixel, offset by the input zero point
 * (x + in_offset, exact in int16) with padding as 0, so padded taps add nothing, as in TFLM.
 * With TINYML_USE_DSP every group of 4 is stored as (x0, x2, x1, x3): SXTB16 of a word of four
 * weights gives (w0, w2) and SXTB16 of it rotated by 8 gives (w1, w3), so two SMLADs multiply a
 * weight word with two col words. A tail of k % 4 elements stays in natural order.
 */
#ifndef TINYML_KERNELS_FAST_H
#define TINYML_KERNELS_FAST_H

#include <stdint.h>
#include <string.h>

#include "tinyml/kernels.h"

#if !defined(__AVR__) && !defined(TINYML_NO_FAST)
#define TINYML_FAST 1
#endif

#if defined(TINYML_FAST) && defined(__ARM_FEATURE_DSP) && !defined(TINYML_NO_DSP)
#define TINYML_USE_DSP 1
#endif

/* Largest col buffer (int16 elements) a kernel keeps on the stack (2.3 KB; the Cortex-M boards'
 * linker scripts guarantee 4 KB of stack): two pixels of a 3x3x64 convolution. */
#ifndef TINYML_COL_MAX
#define TINYML_COL_MAX 1152
#endif
/* Largest channel count whose int32 accumulators the depthwise fast path keeps on the stack. */
#define TINYML_DW_MAX_CH 256

#ifdef TINYML_FAST

/* tinyml_multiply_by_quantized_multiplier, same results for every input (multiplier >= 0):
 * gemmlowp's (ab + nudge) / 2^31 truncated toward zero equals floor((ab + 2^30) / 2^31) for both
 * signs of ab, and the saturating case (a == b == INT32_MIN) cannot occur with multiplier >= 0. */
static inline int32_t tinyml_fast_mbqm(int32_t x, int32_t multiplier, int left_shift, int right_shift)
{
    int32_t y = (int32_t)(((int64_t)(int32_t)((uint32_t)x << left_shift) * multiplier + (INT64_C(1) << 30)) >> 31);
    if (right_shift > 0) {
        const int32_t mask = (int32_t)((UINT32_C(1) << right_shift) - 1u);
        const int32_t remainder = y & mask;
        const int32_t threshold = (mask >> 1) + (y < 0 ? 1 : 0);
        y = (y >> right_shift) + (remainder > threshold ? 1 : 0);
    }
    return y;
}

static inline int8_t tinyml_fast_requant(int32_t acc, int32_t multiplier, int left_shift, int right_shift,
                                         int32_t out_offset, int32_t act_min, int32_t act_max)
{
    acc = tinyml_fast_mbqm(acc, multiplier, left_shift, right_shift) + out_offset;
    acc = acc < act_min ? act_min : acc;
    acc = acc > act_max ? act_max : acc;
    return (int8_t)acc;
}

static inline uint32_t tinyml_ld32(const void *p)
{
    uint32_t v;
    memcpy(&v, p, 4); /* one LDR on cores with unaligned access (M3/M4/M7) */
    return v;
}

static inline void tinyml_st32(void *p, uint32_t v) { memcpy(p, &v, 4); }

#ifdef TINYML_USE_DSP
static inline uint32_t tinyml_sxtb16(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1" : "=r"(r) : "r"(x));
    return r;
}
static inline uint32_t tinyml_sxtb16_ror8(uint32_t x)
{
    uint32_t r;
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(x));
    return r;
}
static inline int32_t tinyml_smlad(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlad %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline uint32_t tinyml_sadd16(uint32_t a, uint32_t b)
{
    uint32_t r;
    __asm__("sadd16 %0, %1, %2" : "=r"(r) : "r"(a), "r"(b));
    return r;
}
static inline int32_t tinyml_smlabb(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlabb %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
static inline int32_t tinyml_smlatt(uint32_t a, uint32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smlatt %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}
#endif

#if defined(__GNUC__)
#define TINYML_INLINE static inline __attribute__((always_inline))
#else
#define TINYML_INLINE static inline
#endif

/* floor((acc * m + 2^30) / 2^31) for |acc| < 2^30, which is gemmlowp's
 * SaturatingRoundingDoublingHighMul (see tinyml_fast_mbqm): one SMMULR of 2 * acc with DSP. */
TINYML_INLINE int32_t tinyml_mulhi_round(int32_t acc, int32_t m)
{
#ifdef TINYML_USE_DSP
    int32_t r;
    __asm__("smmulr %0, %1, %2" : "=r"(r) : "r"(acc * 2), "r"(m));
    return r;
#else
    return (int32_t)(((int64_t)acc * m + (INT64_C(1) << 30)) >> 31);
#endif
}

/* Clamp to [-128, 127]: one SSAT where the core has it (M3 and up). */
TINYML_INLINE int32_t tinyml_sat8(int32_t v)
{
#if defined(__ARM_FEATURE_SAT) || defined(__ARM_FEATURE_DSP)
    int32_t r;
    __asm__("ssat %0, #8, %1" : "=r"(r) : "r"(v));
    return r;
#else
    return v < -128 ? -128 : (v > 127 ? 127 : v);
#endif
}

/* Requantization without the general case's cost, for layers where tinyml_requant_plan() holds:
 * no left shift, right shift rs in [1, 31] (half = 2^(rs-1)), |acc| < 2^29. The rounding shift
 * (y + half - (y < 0)) >> rs equals gemmlowp's RoundingDivideByPOT there (no overflow since
 * |y| <= 2^29). Returns the value before clamping (+ out_offset). */
TINYML_INLINE int32_t tinyml_requant_short(int32_t acc, int32_t mult, int rs, int32_t half, int32_t out_offset)
{
    const int32_t y = tinyml_mulhi_round(acc, mult);
    return ((y + half + (y >> 31)) >> rs) + out_offset;
}

/* 1 if every channel of a layer can use tinyml_requant_short: right shift in [1, 31] (so no
 * left shift) and max_abs_acc + max |bias| < 2^29 (then |y| <= 2^29 and the rounding add cannot
 * overflow). */
int tinyml_requant_plan(const int32_t *bias, const int8_t *shift, int32_t channels, int32_t per_channel,
                        int32_t max_abs_acc);

/* Requantization constants of a conv-like layer (what stays fixed over its loops). */
typedef struct {
    int32_t k;                  /* accumulation depth (col length) */
    int32_t out_c;              /* output channels (filter rows) */
    const int8_t *filter;       /* [out_c][k] */
    const int32_t *bias;        /* [out_c] or NULL */
    const int32_t *multiplier;  /* [out_c] or [1] */
    const int8_t *shift;        /* [out_c] or [1] */
    int32_t per_channel;
    int32_t out_offset, act_min, act_max;
    int32_t short_requant;      /* tinyml_requant_plan() said yes */
} tinyml_mm_args;

/* A col of one or two output pixels (n = 1, 2). Portable layout: pixel i's k-th input at
 * h[i * k_total + k]. DSP layout: group g of 4 inputs of pixel i in words w[g*2n + 2i] = (x0, x2)
 * and w[g*2n + 2i + 1] = (x1, x3); the k % 4 tail after all groups, at h[4*n*G + 4*i + t]. */
typedef union {
    uint32_t w[TINYML_COL_MAX / 2 + 4]; /* + the DSP layout's tail slots */
    int16_t h[TINYML_COL_MAX + 8];
} tinyml_col;

/* Put inputs src[0..count) (or zeros if src is NULL) of pixel i at positions k0.. of a col. */
void tinyml_col_put(tinyml_col *col, int32_t n, int32_t k_total, int32_t i, int32_t k0, const int8_t *src,
                    int32_t count, int32_t in_offset);
/* Sets a->short_requant for the layer (call once per kernel call) and returns it: tinyml_mm_s8
 * needs it (layers that need the general requantization run the reference loops instead). */
int tinyml_mm_prepare(tinyml_mm_args *a);
/* out0[c] (and out1[c] when n == 2) = requant(filter[c] . col + bias[c]) for every c. */
void tinyml_mm_s8(const tinyml_mm_args *a, const tinyml_col *col, int32_t n, int8_t *out0, int8_t *out1);

/* The fast kernels: 1 when they computed the op, 0 when its shape is not theirs (the caller then
 * runs its reference loop). Called with the params already loaded into RAM. */
int tinyml_conv_fast(const tinyml_conv_params *p, const int8_t *input, int8_t *output);
int tinyml_depthwise_conv_fast(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output);
int tinyml_fully_connected_fast(const tinyml_fully_connected_params *p, const int8_t *input, int8_t *output);

#endif /* TINYML_FAST */

#endif /* TINYML_KERNELS_FAST_H */
