/* FULLY_CONNECTED, int8, per-tensor or per-channel weights. Same arithmetic as TFLM's
 * reference_integer_ops::FullyConnected / FullyConnectedPerChannel. The generated code calls
 * tinyml_fc_mm_s8 (fully_connected_fast.c) instead for the layers it planned for the fast path. */
#include "tinyml/kernels.h"

void tinyml_fully_connected_s8(const tinyml_fully_connected_params *params, const int8_t *input, int8_t *output)
{
    tinyml_fully_connected_params p;
    int32_t b, u, d;
    TINYML_LOAD_PARAMS(p, params);

    for (b = 0; b < p.batches; ++b) {
        const int8_t *in_row = input + b * p.depth;
        const int8_t *fp = p.filter;
        for (u = 0; u < p.units; ++u) {
            const int32_t q = p.per_channel ? u : 0;
            int32_t acc = 0;
            for (d = 0; d < p.depth; ++d) {
                acc += ((int32_t)TINYML_READ_I8(fp) + p.filter_offset) * ((int32_t)in_row[d] + p.in_offset);
                ++fp;
            }
            if (p.bias) {
                acc += TINYML_READ_I32(p.bias + u);
            }
            *output++ = tinyml_requantize_s8(acc, TINYML_READ_I32(p.multiplier + q), TINYML_READ_I8(p.shift + q),
                                             p.out_offset, p.act_min, p.act_max);
        }
    }
}
