/* FULLY_CONNECTED through the matrix-multiply path (kernels_fast.h), called directly by the
 * generated code when tinyml/codegen/aot/ops/_mm.py planned the layer (symmetric weights,
 * depth padded to k4 <= TINYML_COL_MAX): the input row is the col, one row at a time. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST
void tinyml_fc_mm_s8(const tinyml_fc_mm_params *params, const int8_t *input, int8_t *output)
{
    const tinyml_fc_mm_params p = *params;
    const int32_t depth = p.depth, k4 = p.mm.k4, units = p.mm.out_c;
    int32_t b;
#ifdef TINYML_USE_DSP
    uint32_t col[TINYML_COL_MAX / 2];
#else
    int8_t row[TINYML_COL_MAX];
#endif
    for (b = 0; b < p.batches; ++b) {
        const int8_t *x = input + b * depth;
#ifdef TINYML_USE_DSP
        int32_t j;
        uint32_t *w = col;
        for (j = 0; j + 4 <= depth; j += 4, w += 2) {
            const uint32_t v = tinyml_ld32(x + j);
            w[0] = tinyml_sxtb16(v);
            w[1] = tinyml_sxtb16_ror8(v);
        }
        if (j < k4) { /* the depth % 4 tail, zero-extended to a group (its weights are 0) */
            uint32_t v = 0;
            memcpy(&v, x + j, (size_t)(depth - j));
            w[0] = tinyml_sxtb16(v);
            w[1] = tinyml_sxtb16_ror8(v);
        }
        p.core(&p.mm, col, NULL, output + b * units, NULL);
#else
        if (depth != k4) { /* a copy with the zeros up to k4: the input row may end the arena */
            memcpy(row, x, (size_t)depth);
            memset(row + depth, 0, (size_t)(k4 - depth));
            x = row;
        }
        p.core(&p.mm, x, NULL, output + b * units, NULL);
#endif
    }
}
#else
typedef int tinyml_fully_connected_fast_unused; /* ISO C: a translation unit is not empty */
#endif
