/* CONCATENATION along any axis: for each outer index, copy each input's chunk in turn.
 * Byte copies: int8 inputs share the output's scale and zero point (TFLM requires it). */
#include "tinyml/kernels.h"

void tinyml_concatenation(const tinyml_concat_params *params, const void *const *inputs, void *output)
{
    tinyml_concat_params p;
    uint8_t *out = (uint8_t *)output;
    int32_t o, i;
    TINYML_LOAD_PARAMS(p, params);
    for (o = 0; o < p.outer; ++o) {
        for (i = 0; i < p.count; ++i) {
            const int32_t n = TINYML_READ_I32(p.chunk_bytes + i);
            memcpy(out, (const uint8_t *)inputs[i] + o * n, (size_t)n);
            out += n;
        }
    }
}
