/* LOGISTIC int8, bit-exact with TFLM reference_integer_ops::Logistic (gemmlowp fixed point). */
#include "tinyml/kernels.h"

#include "tinyml/fx_nonlinear.h"

#define INPUT_INT_BITS 4 /* the input is rescaled to Q4.27 */

void tinyml_logistic_s8(const tinyml_sigmoid_params *params, const int8_t *input, int8_t *output)
{
    tinyml_sigmoid_params p;
    int32_t i;
    TINYML_LOAD_PARAMS(p, params);
    for (i = 0; i < p.size; ++i) {
        int32_t x = (int32_t)input[i] - p.input_zero_point;
        if (x <= -p.input_range_radius) {
            output[i] = -128;
        } else if (x >= p.input_range_radius) {
            output[i] = 127;
        } else {
            int32_t x_q4 = fx_mul_by_quantized_multiplier(x, p.input_multiplier, (int)p.input_left_shift);
            int32_t y_q0 = fx_logistic(x_q4, INPUT_INT_BITS);
            /* Q0.31 -> steps of 1/256, zero point -128. */
            int32_t v = fx_rdbpot(y_q0, 31 - 8) - 128;
            output[i] = (int8_t)(v > 127 ? 127 : (v < -128 ? -128 : v));
        }
    }
}
