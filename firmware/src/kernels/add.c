/* ADD int8 with NHWC broadcasting, bit-exact with TFLM reference_integer_ops::AddFunc. */
#include "tinyml/kernels.h"

#include "tinyml/fx_nonlinear.h"
#include "tinyml/kernels_fast.h"

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

#ifdef TINYML_FAST
/* Same-shape ADD, for layers whose output rescale has a right shift >= 1 (every TFLM ADD with a
 * sensible output scale). An int8 input takes 256 values, so each input's whole rescale
 * (offset, << 20, MultiplyByQuantizedMultiplierSmallerThanOneExp, i.e. add_one's arithmetic)
 * goes into a table of 256 int32 first, computed by the reference functions; the element loop
 * is then two loads, two table loads, one add and the output rescale. With offsets in
 * [-255, 255], |x| <= 383 * 2^20 < 2^28.6 and a multiplier below 1 keeps every entry below that,
 * so |sum| < 2^29.6 (2 * sum fits in int32) and the rescaled sum too (adding up to 2^30 cannot
 * overflow): there the high multiply below is SaturatingRoundingDoublingHighMul (multiplier >= 0)
 * and the short rounding shift is RoundingDivideByPOT. With DSP the tables hold 2 * value so SMMULR takes the sum as is.
 * 0 when the parameters are outside that domain (the caller runs the reference loop). */
#ifdef TINYML_USE_DSP
#define ADD_TABLE_SCALE 2
#else
#define ADD_TABLE_SCALE 1
#endif

/* t[(uint8_t)v] for every int8 v (indexed by the raw byte: one LDRB, no sign fix-up). */
static void add_table(int32_t *t, int32_t offset, int32_t multiplier, int32_t shift, int32_t left_shift)
{
    int32_t v;
    for (v = -128; v < 128; ++v) {
        const int32_t x = (int32_t)((uint32_t)(offset + v) << left_shift);
        t[(uint8_t)v] = ADD_TABLE_SCALE * fx_rdbpot(fx_srdhm(x, multiplier), (int)-shift);
    }
}

/* The element loop. `bias` = half + (output offset << rso): adding a multiple of 2^rso before
 * the floor shift equals adding the offset after it. `clamp`: a constant at each call (the
 * activation is narrower than [-128, 127]), so each copy has only the clamps it needs. */
TINYML_INLINE void add_loop(const int32_t *t1, const int32_t *t2, const uint8_t *a, const uint8_t *b, int8_t *out,
                            int8_t *end, int32_t mo, int rso, int32_t bias, int32_t lo, int32_t hi, int clamp)
{
    while (out != end) {
        const int32_t s = t1[*a++] + t2[*b++];
#ifdef TINYML_USE_DSP
        int32_t y;
        __asm__("smmulr %0, %1, %2" : "=r"(y) : "r"(s), "r"(mo));
#else
        const int32_t y = (int32_t)(((int64_t)s * mo + (INT64_C(1) << 30)) >> 31);
#endif
        int32_t v = tinyml_sat8((y + bias + (y >> 31)) >> rso);
        if (clamp) {
            v = v < lo ? lo : v;
            v = v > hi ? hi : v;
        }
        *out++ = (int8_t)v;
    }
}

static int add_fast(const tinyml_add_params *p, const int8_t *a, const int8_t *b, int8_t *out)
{
    int32_t t1[256], t2[256];
    const int32_t mo = p->output_multiplier, out_off = p->output_offset, lo = p->act_min, hi = p->act_max;
    const int rso = (int)-p->output_shift;
    int32_t bias;
    /* rso <= 21 keeps |out_off << rso| <= 2^28, so y + bias cannot overflow (|y| < 2^29.6). */
    if (p->left_shift != 20 || p->input1_shift > 0 || p->input2_shift > 0 || p->input1_multiplier < 0 ||
        p->input2_multiplier < 0 || mo < 0 || rso < 1 || rso > 21 || p->input1_offset < -255 ||
        p->input1_offset > 255 || p->input2_offset < -255 || p->input2_offset > 255 || out_off < -128 ||
        out_off > 128 || lo < -128 || hi > 127) {
        return 0;
    }
    add_table(t1, p->input1_offset, p->input1_multiplier, p->input1_shift, p->left_shift);
    add_table(t2, p->input2_offset, p->input2_multiplier, p->input2_shift, p->left_shift);
    bias = (int32_t)(UINT32_C(1) << (rso - 1)) + (int32_t)((uint32_t)out_off << rso);
    if (lo == -128 && hi == 127) {
        add_loop(t1, t2, (const uint8_t *)a, (const uint8_t *)b, out, out + p->size, mo, rso, bias, lo, hi, 0);
    } else {
        add_loop(t1, t2, (const uint8_t *)a, (const uint8_t *)b, out, out + p->size, mo, rso, bias, lo, hi, 1);
    }
    return 1;
}
#endif

void tinyml_add_s8(const tinyml_add_params *params, const int8_t *input1, const int8_t *input2, int8_t *output)
{
    tinyml_add_params p;
    int32_t i;
    TINYML_LOAD_PARAMS(p, params);
#ifdef TINYML_FAST
    if (!p.broadcast && add_fast(&p, input1, input2, output)) {
        return;
    }
#endif
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
