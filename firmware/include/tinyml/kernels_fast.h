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

/* Largest col buffer (int16 elements) a kernel keeps on the stack: the boards guarantee 4 KB. */
#define TINYML_COL_MAX 640
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
} tinyml_mm_args;

/* Append n inputs to a col at natural position: dst[i] = src[i] + in_offset. */
void tinyml_col_append(int16_t *dst, const int8_t *src, int32_t n, int32_t in_offset);
/* Finish a col of k elements filled in natural order (DSP builds reorder groups of 4). */
void tinyml_col_finish(int16_t *col, int32_t k);
/* out0[c] (and out1[c] when col1 != NULL) = requant(filter[c] . col + bias[c]) for every c. */
void tinyml_mm_s8(const tinyml_mm_args *a, const int16_t *col0, const int16_t *col1, int8_t *out0, int8_t *out1);

/* The fast kernels: 1 when they computed the op, 0 when its shape is not theirs (the caller then
 * runs its reference loop). Called with the params already loaded into RAM. */
int tinyml_conv_fast(const tinyml_conv_params *p, const int8_t *input, int8_t *output);
int tinyml_depthwise_conv_fast(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output);
int tinyml_fully_connected_fast(const tinyml_fully_connected_params *p, const int8_t *input, int8_t *output);

#endif /* TINYML_FAST */

#endif /* TINYML_KERNELS_FAST_H */
