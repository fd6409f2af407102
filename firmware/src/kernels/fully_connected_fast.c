/* FULLY_CONNECTED through the matrix-multiply path (kernels_fast.h), called directly by the
 * generated code when tinyml/codegen/aot/ops/_mm.py planned the layer (symmetric weights,
 * depth padded to k4 <= TINYML_COL_MAX): the input row is the col, one row at a time. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST
TINYML_NO_LIBCALL void tinyml_fc_mm_s8(const tinyml_fc_mm_params *p, const int8_t *input, int8_t *output)
{
    /* fields into locals, no struct copy: tiny layers (sine) pay for every call */
    const tinyml_mm_fn core = p->core;
    const tinyml_mm_params *mm = &p->mm;
    const int32_t batches = p->batches, depth = p->depth, units = p->mm.out_c, tail = depth & 3;
    int32_t b;
#ifdef TINYML_USE_DSP
    uint32_t col[TINYML_COL_MAX / 2];
#else
    int8_t row[TINYML_COL_MAX];
#endif
    for (b = 0; b < batches; ++b) {
        const int8_t *x = input + b * depth;
#ifdef TINYML_USE_DSP
        int32_t j;
        uint32_t *w = col;
        for (j = depth >> 2; j > 0; --j, x += 4, w += 2) {
            const uint32_t v = tinyml_ld32(x);
            w[0] = tinyml_sxtb16(v);
            w[1] = tinyml_sxtb16_ror8(v);
        }
        if (tail) { /* the depth % 4 tail, zero-extended to a group (its weights are 0) */
            uint32_t v = (uint8_t)x[0];
            if (tail > 1) {
                v |= (uint32_t)(uint8_t)x[1] << 8;
            }
            if (tail > 2) {
                v |= (uint32_t)(uint8_t)x[2] << 16;
            }
            w[0] = tinyml_sxtb16(v);
            w[1] = tinyml_sxtb16_ror8(v);
        }
        core(mm, col, NULL, output + b * units, NULL);
#else
        if (tail) { /* a copy with the zeros up to k4: the input row may end the arena */
            const int32_t whole = depth - tail;
            int32_t j;
            for (j = 0; j < whole; j += 4) {
                tinyml_st32(row + j, tinyml_ld32(x + j));
            }
            tinyml_st32(row + whole, 0);
            row[whole] = x[whole];
            if (tail > 1) {
                row[whole + 1] = x[whole + 1];
            }
            if (tail > 2) {
                row[whole + 2] = x[whole + 2];
            }
            x = row;
        }
        core(mm, x, NULL, output + b * units, NULL);
#endif
    }
}
#else
typedef int tinyml_fully_connected_fast_unused; /* ISO C: a translation unit is not empty */
#endif
