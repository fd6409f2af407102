/* Fixed-point arithmetic shared by the int8 kernels.
 *
 * These reproduce, bit for bit, the integer math of TensorFlow Lite Micro's reference
 * kernels (gemmlowp's SaturatingRoundingDoublingHighMul and RoundingDivideByPOT, and
 * tflite::MultiplyByQuantizedMultiplier), so the aot engine's outputs equal the TFLM
 * interpreter's. Define TINYML_SINGLE_ROUNDING to get TFLM's TFLITE_SINGLE_ROUNDING
 * variant instead (the pip tflite-micro build uses the double-rounding default).
 *
 * Everything is written for a 16-bit int (AVR): every constant that can exceed 16 bits
 * is built from INT32_C/INT64_C.
 */
#ifndef TINYML_FIXEDPOINT_H
#define TINYML_FIXEDPOINT_H

#include <stdint.h>

/* (a * b * 2) >> 32 rounded to nearest, saturating the single overflow case. */
static inline int32_t tinyml_sat_rounding_doubling_high_mul(int32_t a, int32_t b)
{
    int64_t ab;
    int32_t nudge;
    if (a == b && a == INT32_MIN) {
        return INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? (INT32_C(1) << 30) : (INT32_C(1) - (INT32_C(1) << 30));
    /* Division (not a shift) on purpose: it truncates toward zero, as gemmlowp does. */
    return (int32_t)((ab + nudge) / (INT64_C(1) << 31));
}

/* x / 2^exponent rounded to nearest, ties away from zero; exponent in [0, 31]. */
static inline int32_t tinyml_rounding_divide_by_pot(int32_t x, int exponent)
{
    const int32_t mask = (int32_t)((UINT32_C(1) << exponent) - 1u);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* x * multiplier * 2^shift, multiplier a Q31 value in [2^30, 2^31), as computed by
 * tinyml.codegen.aot.quant.quantize_multiplier at generation time. */
static inline int32_t tinyml_multiply_by_quantized_multiplier(int32_t x, int32_t multiplier, int shift)
{
#ifdef TINYML_SINGLE_ROUNDING
    const int total_shift = 31 - shift;
    const int64_t round = INT64_C(1) << (total_shift - 1);
    return (int32_t)(((int64_t)x * (int64_t)multiplier + round) >> total_shift);
#else
    const int left_shift = shift > 0 ? shift : 0;
    const int right_shift = shift > 0 ? 0 : -shift;
    return tinyml_rounding_divide_by_pot(
        tinyml_sat_rounding_doubling_high_mul(x * (INT32_C(1) << left_shift), multiplier), right_shift);
#endif
}

static inline int32_t tinyml_clamp_i32(int32_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : x);
}

#endif /* TINYML_FIXEDPOINT_H */
