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
 * CONV_2D and FULLY_CONNECTED run a matrix-multiply path the generator plans per layer (the
 * section at the end); DEPTHWISE_CONV_2D checks its shapes at run time.
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

/* Largest col (int16 elements) the conv / fully-connected path keeps on the stack (2.3 KB; the
 * Cortex-M boards' linker scripts guarantee 4 KB of stack): two pixels of a 3x3x64 convolution.
 * ops/_mm.py has the same number: the generator picks one or two pixels per pass from it. */
#define TINYML_COL_MAX 1152
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

/* Loops GCC must not turn into memcpy / memset calls (a call costs more than the short rows of
 * a small kernel). */
#if defined(__GNUC__) && !defined(__clang__)
#define TINYML_NO_LIBCALL __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define TINYML_NO_LIBCALL
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

/* ---- CONV_2D / FULLY_CONNECTED: the matrix-multiply path planned at generation time ----------
 *
 * tinyml/codegen/aot/ops/_mm.py decides per layer whether this path applies (and proves the
 * requantization below exact for every possible accumulator of that layer), then emits, under
 * #if defined(TINYML_FAST), a tinyml_conv_mm_params / tinyml_fc_mm_params struct and a direct
 * call; the reference loops (conv.c, fully_connected.c) keep the TFLite layout for AVR. Nothing
 * is checked at run time and only the requantization variant a model names gets linked.
 *
 * - The input offset is folded into the bias: acc = bias + in_offset * sum(w) + sum(w * x), the
 *   same integer as bias + sum(w * (x + in_offset)). A padded tap holds the input zero point
 *   (x = -in_offset), so it adds w * 0 as in TFLM.
 * - Weights: k padded to k4 (a multiple of 4) with zeros, out_c padded to even with a zero row,
 *   and each row pair interleaved by groups of 4: row 2p bytes 4g..4g+3, then row 2p+1's.
 * - rq: per row pair 8 int32: bias0 bias1 mult0 c0 s0 mult1 c1 s1. Variant "r" (right shift s
 *   in [1, 31]): y = mulhi_round(acc, mult), out = (y + c + (y >> 31)) >> s with
 *   c = 2^(s-1) + out_offset * 2^s (the rounding of tinyml_requant_short with the zero point
 *   added before the shift; the generator checks nothing overflows). Variant "l" (left shift
 *   s >= 0): out = mulhi_round(acc << s, mult) + c, c = out_offset. Then the activation clamp:
 *   "sat" when it is the whole int8 range (one SSAT), "clamp" otherwise.
 * - col (DSP): one or two pixels' inputs sign-extended by SXTB16, group g of 4 inputs of pixel i
 *   at words w[g*2n + 2i] = (x0, x2) and w[g*2n + 2i + 1] = (x1, x3). Portable: the int8 inputs
 *   themselves (no col at all when a pixel's inputs are contiguous). */
typedef struct {
    int32_t k4;                 /* accumulation depth padded to a multiple of 4 */
    int32_t out_c;              /* output channels (the filter has out_c rounded up to even rows) */
    int32_t act_min, act_max;
    const int8_t *filter;       /* TINYML_CONST, layout above */
    const int32_t *rq;          /* TINYML_CONST [(out_c + 1) / 2][8] */
} tinyml_mm_params;

/* out0[c] (and out1[c] when b != NULL) = requant(row c . col + bias) for every c. a: the col
 * (DSP layout for one or two pixels; portable: pixel 0's k4 int8 inputs), b: NULL for one pixel,
 * else anything non-NULL with DSP and pixel 1's k4 int8 inputs in portable C. */
typedef void (*tinyml_mm_fn)(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1);
void tinyml_mm_r_sat(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1);
void tinyml_mm_r_clamp(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1);
void tinyml_mm_l_sat(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1);
void tinyml_mm_l_clamp(const tinyml_mm_params *p, const void *a, const void *b, int8_t *out0, int8_t *out1);

typedef struct {
    tinyml_mm_params mm;
    tinyml_mm_fn core;          /* one of tinyml_mm_* */
    int32_t batches, in_h, in_w, in_c, out_h, out_w;
    int32_t k_h, k_w, stride_h, stride_w, dilation_h, dilation_w, pad_h, pad_w;
    int32_t k;                  /* k_h * k_w * in_c (<= k4) */
    int32_t pad_value;          /* the input zero point */
    int32_t pairs;              /* DSP: 1 when two pixels' col (and patch) fit in TINYML_COL_MAX */
} tinyml_conv_mm_params;
void tinyml_conv_mm_s8(const tinyml_conv_mm_params *p, const int8_t *input, int8_t *output);

typedef struct {
    tinyml_mm_params mm;
    tinyml_mm_fn core;
    int32_t batches, depth;
} tinyml_fc_mm_params;
void tinyml_fc_mm_s8(const tinyml_fc_mm_params *p, const int8_t *input, int8_t *output);

/* FULLY_CONNECTED with depth 1..4 (sine's first layer): the matrix-multiply path would pad each
 * row to 4 and pair the rows; here each unit is one record of 4 + depth int32, bias' mult c s
 * (the requantization of the "r" / "l" variants above, planned by ops/_mm.py) then its depth
 * weights, and the batch's inputs stay in registers across the units. */
#define TINYML_FC_SMALL_MAX_DEPTH 4
typedef struct {
    int32_t batches, depth, units, act_min, act_max;
    const int32_t *rec;         /* TINYML_CONST [units][4 + depth] */
} tinyml_fc_small_params;
void tinyml_fc_small_r_sat(const tinyml_fc_small_params *p, const int8_t *input, int8_t *output);
void tinyml_fc_small_r_clamp(const tinyml_fc_small_params *p, const int8_t *input, int8_t *output);
void tinyml_fc_small_l_sat(const tinyml_fc_small_params *p, const int8_t *input, int8_t *output);
void tinyml_fc_small_l_clamp(const tinyml_fc_small_params *p, const int8_t *input, int8_t *output);

/* The fast depthwise kernel: 1 when it computed the op, 0 when its shape is not its own (the
 * caller then runs its reference loop). Called with the params already loaded into RAM. */
int tinyml_depthwise_conv_fast(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output);

#endif /* TINYML_FAST */

#endif /* TINYML_KERNELS_FAST_H */
