/* ADD int8 with NHWC broadcasting, bit-exact with TFLM reference_integer_ops::AddFunc. */
#include "tinyml/kernels.h"

#include "tinyml/fx_nonlinear.h"

static int8_t add_one(int32_t a, int32_t b, const tinyml_add_params *p)
{
    /* Both inputs go to a common scale with `left_shift` bits of headroom, are summed, then the
     * sum is rescaled to the output (three multipliers, each "smaller than one"). */
    int32_t x1 = (int32_t)((uint32_t)(p->input1_offset + a) << p->left_shift);
    int32_t x2 = (int32_t)((uint32_t)(p->input2_offset + b) << p->left_shift);
    int32_t s1 = fx_rdbpot(fx_srdhm(x1, p->input1_multiplier), (int)-p->input1_shift);
    int32_t s2 = fx_rdbpot(fx_srdhm(x2, p->input2_multiplier), (int)-p->input2_shift);
    int32_t v = fx_rdbpot(fx_srdhm(s1 + s2, p->output_multiplier), (int)-p->output_shift) + p->output_offset;
    return (int8_t)tinyml_clamp_i32(v, p->act_min, p->act_max);
}

void tinyml_add_s8(const tinyml_add_params *params, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    tinyml_add_params p;
    int32_t i;
    TINYML_LOAD_PARAMS(p, params);
    if (!p.broadcast) {
        for (i = 0; i < p.size; ++i) {
            output[i] = add_one(input1[i], input2[i], &p);
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
                        *out++ = add_one(a[d3 * p.stride1[3]], b[d3 * p.stride2[3]], &p);
                    }
                }
            }
        }
    }
}
