/* RELU / RELU6 as standalone int8 ops (the converter emits them where it cannot fuse, e.g.
 * after BATCH_TO_SPACE_ND). Element for element, so output may alias input (in place). */
#include "tinyml/fixedpoint.h"
#include "tinyml/kernels.h"

void tinyml_relu_s8(const tinyml_relu_params *params, const int8_t *input, int8_t *output)
{
    tinyml_relu_params p;
    int32_t i;
    TINYML_LOAD_PARAMS(p, params);
    for (i = 0; i < p.size; ++i) {
        int32_t v = input[i];
        if (p.requantize) {
            v = p.out_zero_point +
                tinyml_multiply_by_quantized_multiplier(v - p.in_zero_point, p.multiplier, (int)p.shift);
        }
        output[i] = (int8_t)tinyml_clamp_i32(v, p.act_min, p.act_max);
    }
}
