/* QUANTIZE, bit-exact with TFLM: float32 -> int8 (AffineQuantize) and int8 -> int8 (Requantize). */
#include "tinyml/kernels.h"

#include "tinyml/fx_nonlinear.h"

void tinyml_quantize_f32_s8(const tinyml_affine_params *params, const float *input, int8_t *output)
{
    tinyml_affine_params p;
    int32_t i;
    TINYML_LOAD_PARAMS(p, params);
    for (i = 0; i < p.size; ++i) {
        /* TFLM: static_cast<int32_t>(std::round(val / static_cast<float>(scale))): a float
         * division, then rounding half away from zero. The rounding is done here without libm:
         * r - trunc(r) is exact in float for |r| < 2^23, so comparing it with 0.5 decides the tie
         * exactly as roundf does. Out-of-range values (and NaN) saturate instead of being
         * undefined behaviour as in TFLM's cast. */
        float r = input[i] / p.scale;
        int32_t v;
        if (r != r) {
            v = 0;
        } else if (r > 1000.0f) {
            v = 1000;
        } else if (r < -1000.0f) {
            v = -1000;
        } else {
            float frac;
            v = (int32_t)r; /* truncates toward zero */
            frac = r - (float)v;
            if (frac >= 0.5f) {
                ++v;
            } else if (frac <= -0.5f) {
                --v;
            }
        }
        output[i] = (int8_t)tinyml_clamp_i32(v + p.zero_point, -128, 127);
    }
}

void tinyml_quantize_s8_s8(const tinyml_requantize_params *params, const int8_t *input, int8_t *output)
{
    tinyml_requantize_params p;
    int32_t i;
    TINYML_LOAD_PARAMS(p, params);
    for (i = 0; i < p.size; ++i) {
        int32_t v = fx_mul_by_quantized_multiplier((int32_t)input[i] - p.input_zero_point, p.multiplier,
                                                   (int)p.shift) +
                    p.output_zero_point;
        output[i] = (int8_t)tinyml_clamp_i32(v, -128, 127);
    }
}
