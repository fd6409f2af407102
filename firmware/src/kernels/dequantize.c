/* DEQUANTIZE int8 -> float32, bit-exact with TFLM reference_ops::Dequantize. */
#include "tinyml/kernels.h"

void tinyml_dequantize_s8_f32(const tinyml_affine_params *params, const int8_t *input, float *output)
{
    tinyml_affine_params p;
    int32_t i;
    TINYML_LOAD_PARAMS(p, params);
    for (i = 0; i < p.size; ++i) {
        /* TFLM multiplies in double and casts to float. The exact product of a float scale and
         * an integer of at most 9 bits fits in a double, so rounding it once to float gives the
         * correctly rounded float product: a float multiply yields the same bits, also where
         * double is 32-bit (AVR) or the FPU is single precision (Cortex-M4F). */
        output[i] = p.scale * (float)((int32_t)input[i] - p.zero_point);
    }
}
