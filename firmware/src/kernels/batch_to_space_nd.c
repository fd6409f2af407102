/* BATCH_TO_SPACE_ND: the inverse of SPACE_TO_BATCH_ND, cropping top/left; pixels that land
 * outside the output are dropped. Same order as TFLM's reference kernel. */
#include "tinyml/kernels.h"

void tinyml_batch_to_space_nd(const tinyml_space_batch_params *params, const void *input, void *output)
{
    tinyml_space_batch_params p;
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    int32_t ib, iy, ix;
    TINYML_LOAD_PARAMS(p, params);
    for (ib = 0; ib < p.in_batch; ++ib) {
        const int32_t ob = ib % p.out_batch;
        const int32_t spatial = ib / p.out_batch;
        for (iy = 0; iy < p.in_h; ++iy) {
            const int32_t oy = iy * p.block_h + spatial / p.block_w - p.top;
            if (oy < 0 || oy >= p.out_h) {
                continue;
            }
            for (ix = 0; ix < p.in_w; ++ix) {
                const int32_t ox = ix * p.block_w + spatial % p.block_w - p.left;
                if (ox < 0 || ox >= p.out_w) {
                    continue;
                }
                memcpy(out + ((ob * p.out_h + oy) * p.out_w + ox) * p.depth_bytes,
                       in + ((ib * p.in_h + iy) * p.in_w + ix) * p.depth_bytes, (size_t)p.depth_bytes);
            }
        }
    }
}
