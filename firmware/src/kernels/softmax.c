/* SOFTMAX int8 -> int8, bit-exact with TFLM reference_ops::Softmax (gemmlowp fixed point). */
#include "tinyml/kernels.h"

#include "tinyml/fx_nonlinear.h"

#define SOFTMAX_DIFF_INT_BITS 5   /* input differences scaled to Q5.26 */
#define SOFTMAX_ACCUM_INT_BITS 12 /* sum of exps in Q12.19 */

/* exp values of a row's first elements kept between the sum and the output pass (computing
 * them is most of the kernel's time): 64 int32, 256 bytes of stack (16 on AVR); the elements
 * after them compute theirs twice, as before */
#ifndef TINYML_SOFTMAX_CACHE
#if defined(__AVR__)
#define TINYML_SOFTMAX_CACHE 16
#else
#define TINYML_SOFTMAX_CACHE 64
#endif
#endif

static int count_leading_zeros_u32(uint32_t x)
{
#if defined(__GNUC__) && !defined(__AVR__)
    return x == 0 ? 32 : __builtin_clz(x);
#else
    int n = 0;
    if (x == 0) {
        return 32;
    }
    while ((x & UINT32_C(0x80000000)) == 0) {
        x <<= 1;
        ++n;
    }
    return n;
#endif
}

/* exp(beta * scale * diff) in Q0 for a difference already known to be >= diff_min. */
static int32_t scaled_exp(int32_t diff, int32_t multiplier, int32_t left_shift)
{
    /* MultiplyByQuantizedMultiplierGreaterThanOne: shift left, then doubling high multiply. */
    int32_t rescaled = fx_srdhm((int32_t)((uint32_t)diff << left_shift), multiplier);
    return fx_exp_on_negative_values(rescaled, SOFTMAX_DIFF_INT_BITS);
}

void tinyml_softmax_s8(const tinyml_softmax_params *params, const int8_t *input, int8_t *output)
{
    tinyml_softmax_params p;
    int32_t row;
    int32_t cache[TINYML_SOFTMAX_CACHE];
    TINYML_LOAD_PARAMS(p, params);
    for (row = 0; row < p.outer; ++row) {
        const int8_t *in = input + row * p.depth;
        int8_t *out = output + row * p.depth;
        int32_t max_in_row = -128;
        int32_t sum_of_exps = 0;
        int32_t c;
        int headroom_plus_one;
        int32_t shifted_scale;
        int exponent;

        for (c = 0; c < p.depth; ++c) {
            if (in[c] > max_in_row) {
                max_in_row = in[c];
            }
        }
        for (c = 0; c < p.depth; ++c) {
            int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p.diff_min) {
                int32_t e = p.exp_table ? p.exp_table[-diff] : scaled_exp(diff, p.input_multiplier, p.input_left_shift);
                if (c < TINYML_SOFTMAX_CACHE) {
                    cache[c] = e;
                }
                sum_of_exps += fx_rescale(e, 0, SOFTMAX_ACCUM_INT_BITS);
            }
        }
        /* GetReciprocal: 1/sum as a Q0 scale, plus how many bits the sum exceeds 1.0 by. The
         * row maximum contributes exp(0), so the sum is never 0. */
        headroom_plus_one = count_leading_zeros_u32((uint32_t)sum_of_exps);
        shifted_scale = fx_one_over_one_plus_x(
            (int32_t)(((uint32_t)sum_of_exps << headroom_plus_one) - UINT32_C(0x80000000)));
        /* num_bits_over_unit + 31 - 8 */
        exponent = (SOFTMAX_ACCUM_INT_BITS - headroom_plus_one) + 31 - 8;

        for (c = 0; c < p.depth; ++c) {
            int32_t diff = (int32_t)in[c] - max_in_row;
            if (diff >= p.diff_min) {
                int32_t e = c < TINYML_SOFTMAX_CACHE ? cache[c]
                            : p.exp_table      ? p.exp_table[-diff]
                                               : scaled_exp(diff, p.input_multiplier, p.input_left_shift);
                int32_t v = fx_rdbpot(fx_srdhm(shifted_scale, e), exponent) - 128;
                out[c] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
            } else {
                out[c] = -128;
            }
        }
    }
}
