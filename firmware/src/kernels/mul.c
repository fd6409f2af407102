/* MUL int8 with NHWC broadcasting, bit-exact with TFLM reference_integer_ops::MulElementwise. */
#include "tinyml/kernels.h"

#include "tinyml/fx_nonlinear.h"

static int8_t mul_one(int32_t a, int32_t b, const tinyml_mul_params *p)
{
    int32_t prod = (p->input1_offset + a) * (p->input2_offset + b);
    int32_t v = fx_mul_by_quantized_multiplier(prod, p->output_multiplier, (int)p->output_shift) +
                p->output_offset;
    return (int8_t)tinyml_clamp_i32(v, p->act_min, p->act_max);
}

void tinyml_mul_s8(const tinyml_mul_params *params, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    tinyml_mul_params p;
    int32_t i;
    TINYML_LOAD_PARAMS(p, params);
    if (!p.broadcast) {
        for (i = 0; i < p.size; ++i) {
            output[i] = mul_one(input1[i], input2[i], &p);
        }
    } else {
        int32_t d0, d1, d2, d3;
        int8_t *out = output;
        for (d0 = 0; d0 < p.dims[0]; ++d0) {
            for (d1 = 0; d1 < p.dims[1]; ++d1) {
                for (d2 = 0; d2 < p.dims[2]; ++d2) {
                    const int8_t *a = input1 + d0 * p.stride1[0] + d1 * p.stride1[1] + d2 * p.stride1[2];
                    const int8_t *b = input2 + d0 * p.stride2[0] + d1 * p.stride2[1] + d2 * p.stride2[2];
                    for (d3 = 0; d3 < p.dims[3]; ++d3) {
                        *out++ = mul_one(a[d3 * p.stride1[3]], b[d3 * p.stride2[3]], &p);
                    }
                }
            }
        }
    }
}
