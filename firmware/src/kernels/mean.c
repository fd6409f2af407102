/* MEAN int8 over any axes of a 4-D tensor, bit-exact with TFLM reference_ops::QuantizedMeanOrSum
 * (sum, minus zero point times count, one requantization that folds in 1/count). */
#include "tinyml/kernels.h"

#include "tinyml/fx_nonlinear.h"

void tinyml_mean_s8(const tinyml_mean_params *params, const int8_t *input, int8_t *output)
{
    tinyml_mean_params p;
    int32_t stride[4];
    int32_t count;
    int32_t o0, o1, o2, o3, r0, r1, r2, r3;
    int8_t *out = output;
    TINYML_LOAD_PARAMS(p, params);

    count = p.red_dims[0] * p.red_dims[1] * p.red_dims[2] * p.red_dims[3];
    stride[3] = 1;
    stride[2] = p.in_dims[3];
    stride[1] = p.in_dims[3] * p.in_dims[2];
    stride[0] = stride[1] * p.in_dims[1];

#if !defined(__AVR__) && !defined(TINYML_NO_FAST)
    if (p.red_dims[0] == 1 && p.red_dims[3] == 1 && p.red_dims[1] == p.in_dims[1] && p.red_dims[2] == p.in_dims[2]) {
        /* The spatial mean of NHWC (a global average pool): the pixels are contiguous, so walk
         * them once per 4 channels (the loops below walk the window once per channel). */
        const int32_t ch = p.in_dims[3], pixels = count;
        for (o0 = 0; o0 < p.in_dims[0]; ++o0) {
            const int8_t *in_b = input + o0 * stride[0];
            int32_t c = 0, k;
            int32_t sums[4];
            for (; c < ch; c += 4) {
                const int32_t n = ch - c < 4 ? ch - c : 4;
                const int8_t *q = in_b + c;
                int32_t s0 = 0, s1 = 0, s2 = 0, s3 = 0, i;
                if (n == 4) {
                    for (i = pixels; i > 0; --i, q += ch) {
                        s0 += q[0], s1 += q[1], s2 += q[2], s3 += q[3];
                    }
                } else {
                    for (i = pixels; i > 0; --i, q += ch) {
                        s0 += q[0];
                        s1 += n > 1 ? q[1] : 0;
                        s2 += n > 2 ? q[2] : 0;
                    }
                }
                sums[0] = s0, sums[1] = s1, sums[2] = s2, sums[3] = s3;
                for (k = 0; k < n; ++k) {
                    int32_t v = fx_mul_by_quantized_multiplier(sums[k] - p.input_zero_point * count, p.multiplier,
                                                               (int)p.shift) +
                                p.output_zero_point;
                    *out++ = (int8_t)tinyml_clamp_i32(v, -128, 127);
                }
            }
        }
        return;
    }
#endif

    for (o0 = 0; o0 < p.out_dims[0]; ++o0) {
        for (o1 = 0; o1 < p.out_dims[1]; ++o1) {
            for (o2 = 0; o2 < p.out_dims[2]; ++o2) {
                for (o3 = 0; o3 < p.out_dims[3]; ++o3) {
                    const int8_t *base = input + o0 * stride[0] + o1 * stride[1] + o2 * stride[2] + o3;
                    int32_t sum = 0;
                    int32_t v;
                    for (r0 = 0; r0 < p.red_dims[0]; ++r0) {
                        for (r1 = 0; r1 < p.red_dims[1]; ++r1) {
                            for (r2 = 0; r2 < p.red_dims[2]; ++r2) {
                                const int8_t *q = base + r0 * stride[0] + r1 * stride[1] + r2 * stride[2];
                                for (r3 = 0; r3 < p.red_dims[3]; ++r3) {
                                    sum += q[r3];
                                }
                            }
                        }
                    }
                    v = fx_mul_by_quantized_multiplier(sum - p.input_zero_point * count, p.multiplier,
                                                       (int)p.shift) +
                        p.output_zero_point;
                    *out++ = (int8_t)tinyml_clamp_i32(v, -128, 127);
                }
            }
        }
    }
}
