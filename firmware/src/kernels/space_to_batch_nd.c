/* SPACE_TO_BATCH_ND: output batch b takes every block-th pixel of the padded input, starting at
 * (b / in_batch) split into (row, column) shifts. Same order as TFLM's reference kernel. */
#include "tinyml/kernels.h"

void tinyml_space_to_batch_nd(const tinyml_space_batch_params *params, const void *input, void *output)
{
    tinyml_space_batch_params p;
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    int32_t ob, oy, ox;
    TINYML_LOAD_PARAMS(p, params);
    for (ob = 0; ob < p.out_batch; ++ob) {
        const int32_t ib = ob % p.in_batch;
        const int32_t shift_w = (ob / p.in_batch) % p.block_w;
        const int32_t shift_h = (ob / p.in_batch) / p.block_w;
        for (oy = 0; oy < p.out_h; ++oy) {
            const int32_t iy = oy * p.block_h + shift_h - p.top;
            for (ox = 0; ox < p.out_w; ++ox) {
                const int32_t ix = ox * p.block_w + shift_w - p.left;
                if (iy < 0 || iy >= p.in_h || ix < 0 || ix >= p.in_w) {
                    memset(out, (int)(uint8_t)p.pad_value, (size_t)p.depth_bytes);
                } else {
                    memcpy(out, in + ((ib * p.in_h + iy) * p.in_w + ix) * p.depth_bytes, (size_t)p.depth_bytes);
                }
                out += p.depth_bytes;
            }
        }
    }
}
