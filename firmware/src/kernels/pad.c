/* PAD / PADV2 on raw elements of any size: every output element is either the input element
 * it maps to or the pad value. Rows of the innermost dimension are copied with memcpy. */
#include "tinyml/kernels.h"

static void fill(uint8_t *dst, const uint8_t *value, int32_t elem_bytes, int32_t count)
{
    int32_t i, k;
    for (i = 0; i < count; ++i) {
        for (k = 0; k < elem_bytes; ++k) {
            *dst++ = value[k];
        }
    }
}

void tinyml_pad(const tinyml_pad_params *params, const void *input, void *output)
{
    tinyml_pad_params p;
    const uint8_t *in = (const uint8_t *)input;
    uint8_t *out = (uint8_t *)output;
    int32_t d0, d1, d2;
    int32_t e;
    TINYML_LOAD_PARAMS(p, params);
    e = p.elem_bytes;
    for (d0 = 0; d0 < p.out_dims[0]; ++d0) {
        const int32_t i0 = d0 - p.before[0];
        for (d1 = 0; d1 < p.out_dims[1]; ++d1) {
            const int32_t i1 = d1 - p.before[1];
            for (d2 = 0; d2 < p.out_dims[2]; ++d2) {
                const int32_t i2 = d2 - p.before[2];
                if (i0 < 0 || i0 >= p.in_dims[0] || i1 < 0 || i1 >= p.in_dims[1] || i2 < 0 || i2 >= p.in_dims[2]) {
                    fill(out, p.pad_value, e, p.out_dims[3]);
                } else {
                    const int32_t row = ((i0 * p.in_dims[1] + i1) * p.in_dims[2] + i2) * p.in_dims[3];
                    const int32_t after = p.out_dims[3] - p.in_dims[3] - p.before[3];
                    fill(out, p.pad_value, e, p.before[3]);
                    memcpy(out + p.before[3] * e, in + row * e, (size_t)(p.in_dims[3] * e));
                    fill(out + (p.before[3] + p.in_dims[3]) * e, p.pad_value, e, after);
                }
                out += p.out_dims[3] * e;
            }
        }
    }
}
