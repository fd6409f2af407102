/*
 * Fixed-point building blocks for the non-linear int8 kernels (softmax, logistic, tanh, and the
 * requantizing elementwise ops). Used only by the kernels in firmware/src/kernels/.
 *
 * These reproduce, bit for bit, the integer arithmetic the TFLM reference kernels use (the
 * gemmlowp fixed-point library: Q-format values in int32, saturating rounding doubling high
 * multiply, rounding divide by a power of two, exp on negative values, Newton-Raphson 1/(1+x)).
 * Written for portable C99: every constant and intermediate is int32_t/int64_t explicitly,
 * because `int` is 16 bits on AVR. Right shifts of negative values assume an arithmetic shift,
 * which every compiler we target (gcc, arm-none-eabi-gcc, avr-gcc) implements.
 *
 * Naming: a value in "Qk" has k integer bits and 31-k fractional bits (gemmlowp FixedPoint<int32,k>).
 */
#ifndef TINYML_KERNELS_FX_NONLINEAR_H
#define TINYML_KERNELS_FX_NONLINEAR_H

#include <stdint.h>

#include "tinyml/fixedpoint.h"

/* The basic operations come from the shared fixedpoint.h (also used by conv/fc requantization). */
#define fx_srdhm tinyml_sat_rounding_doubling_high_mul
#define fx_rdbpot tinyml_rounding_divide_by_pot
#define fx_mul_by_quantized_multiplier tinyml_multiply_by_quantized_multiplier

/* x * 2^exponent with saturation, exponent > 0 (gemmlowp SaturatingRoundingMultiplyByPOT). */
static inline int32_t fx_sat_shl(int32_t x, int exponent)
{
    int32_t threshold = (int32_t)(((int64_t)1 << (31 - exponent)) - 1);
    if (x > threshold) {
        return INT32_MAX;
    }
    if (x < -threshold) {
        return INT32_MIN;
    }
    return (int32_t)((uint32_t)x << exponent);
}

/* Change the number of integer bits of a raw value from src to dst (gemmlowp Rescale). */
static inline int32_t fx_rescale(int32_t raw, int src_int_bits, int dst_int_bits)
{
    int exponent = src_int_bits - dst_int_bits;
    if (exponent > 0) {
        return fx_sat_shl(raw, exponent);
    }
    return fx_rdbpot(raw, -exponent);
}

/* exp(a) for a in [-1/4, 0), a and result in Q0. */
static inline int32_t fx_exp_quarter(int32_t a)
{
    const int32_t exp_minus_one_eighth = INT32_C(1895147668);
    const int32_t one_third = INT32_C(715827883);
    int32_t x = a + (INT32_C(1) << 28); /* Taylor expansion around -1/8 */
    int32_t x2 = fx_srdhm(x, x);
    int32_t x3 = fx_srdhm(x2, x);
    int32_t x4 = fx_srdhm(x2, x2);
    int32_t x4_over_4 = fx_rdbpot(x4, 2);
    int32_t poly = fx_rdbpot(fx_srdhm(x4_over_4 + x3, one_third) + x2, 1);
    return exp_minus_one_eighth + fx_srdhm(exp_minus_one_eighth, x + poly);
}

/* exp(a) for a <= 0 given in Q(int_bits), result in Q0 (gemmlowp exp_on_negative_values). */
static inline int32_t fx_exp_on_negative_values(int32_t a, int int_bits)
{
    static const int32_t barrel[7] = {
        INT32_C(1672461947), /* exp(-1/4) */
        INT32_C(1302514674), /* exp(-1/2) */
        INT32_C(790015084),  /* exp(-1)   */
        INT32_C(290630308),  /* exp(-2)   */
        INT32_C(39332535),   /* exp(-4)   */
        INT32_C(720401),     /* exp(-8)   */
        INT32_C(242),        /* exp(-16)  */
    };
    const int frac_bits = 31 - int_bits;
    const int32_t one_quarter = INT32_C(1) << (frac_bits - 2);
    const int32_t mask = one_quarter - 1;
    int32_t a_mod_quarter_minus_one_quarter = (a & mask) - one_quarter;
    int32_t result = fx_exp_quarter(fx_rescale(a_mod_quarter_minus_one_quarter, int_bits, 0));
    int32_t remainder = a_mod_quarter_minus_one_quarter - a;
    int k;
    for (k = 0; k < 7; ++k) {
        int exponent = k - 2; /* -2 .. +4 */
        if (int_bits > exponent) {
            int shift = frac_bits + exponent;
            if (remainder & (int32_t)((uint32_t)1 << shift)) {
                result = fx_srdhm(result, barrel[k]);
            }
        }
    }
    if (int_bits > 5) {
        int32_t clamp = -(INT32_C(1) << (36 - int_bits)); /* -32.0 */
        if (a < clamp) {
            result = 0;
        }
    }
    if (a == 0) {
        result = INT32_MAX;
    }
    return result;
}

/* Newton-Raphson iterations shared by 1/(1+x) and (1-x)/(1+x): returns 1/half_denominator in Q2. */
static inline int32_t fx_reciprocal_q2(int32_t a)
{
    const int32_t c48_over_17 = INT32_C(1515870810);
    const int32_t cneg32_over_17 = INT32_C(-1010580540);
    const int32_t one_q2 = INT32_C(1) << 29;
    /* RoundingHalfSum(a, 1.0) in Q0. */
    int64_t sum = (int64_t)a + INT32_MAX;
    int32_t half_denominator = (int32_t)((sum + (sum >= 0 ? 1 : -1)) / 2);
    int32_t x = c48_over_17 + fx_srdhm(half_denominator, cneg32_over_17);
    int i;
    for (i = 0; i < 3; ++i) {
        int32_t hd_x = fx_srdhm(half_denominator, x);
        int32_t one_minus = one_q2 - hd_x;
        x = x + fx_sat_shl(fx_srdhm(x, one_minus), 2);
    }
    return x;
}

/* 1/(1+a) for a in [0,1), Q0 in and out. */
static inline int32_t fx_one_over_one_plus_x(int32_t a)
{
    /* ExactMulByPot<-1> reinterprets Q2 as Q1, then Rescale to Q0. */
    return fx_sat_shl(fx_reciprocal_q2(a), 1);
}

/* (1-a)/(1+a) for a in [0,1), Q0 in and out. */
static inline int32_t fx_one_minus_x_over_one_plus_x(int32_t a)
{
    return fx_sat_shl(fx_reciprocal_q2(a) - (INT32_C(1) << 29), 2);
}

/* logistic(a), a in Q(int_bits), result in Q0 (gemmlowp logistic). */
static inline int32_t fx_logistic(int32_t a, int int_bits)
{
    int32_t abs_a;
    int32_t pos;
    if (a == 0) {
        return INT32_C(1) << 30;
    }
    abs_a = a > 0 ? a : -a;
    pos = fx_one_over_one_plus_x(fx_exp_on_negative_values(-abs_a, int_bits));
    return a > 0 ? pos : INT32_MAX - pos;
}

/* tanh(a), a in Q(int_bits), result in Q0 (gemmlowp tanh). */
static inline int32_t fx_tanh(int32_t a, int int_bits)
{
    int32_t n;
    int32_t t;
    if (a == 0) {
        return 0;
    }
    n = a < 0 ? a : -a;
    /* exp(2n): the same raw value read with one more integer bit. */
    t = fx_one_minus_x_over_one_plus_x(fx_exp_on_negative_values(n, int_bits + 1));
    return a < 0 ? -t : t;
}

#endif /* TINYML_KERNELS_FX_NONLINEAR_H */
