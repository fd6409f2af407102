/* Requantization of an int32 accumulator to int8 (shared by conv, depthwise, fully connected). */
#include "tinyml/fixedpoint.h"
#include "tinyml/kernels.h"

int8_t tinyml_requantize_s8(int32_t acc, int32_t multiplier, int shift, int32_t out_offset, int32_t act_min,
                            int32_t act_max)
{
    acc = tinyml_multiply_by_quantized_multiplier(acc, multiplier, shift) + out_offset;
    return (int8_t)tinyml_clamp_i32(acc, act_min, act_max);
}
