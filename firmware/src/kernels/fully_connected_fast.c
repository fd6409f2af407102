/* FULLY_CONNECTED fast path (see kernels_fast.h); tinyml_fully_connected_s8 tries it first. */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST
int tinyml_fully_connected_fast(const tinyml_fully_connected_params *p, const int8_t *input, int8_t *output)
{
    int32_t b;
    /* Fast path (symmetric weights, depth <= TINYML_COL_MAX): the input row becomes a col and
     * tinyml_mm_s8 does two units per pass over it. */
    if (p->filter_offset == 0 && p->depth <= TINYML_COL_MAX) {
        tinyml_col col;
        tinyml_mm_args a;
        a.k = p->depth;
        a.out_c = p->units;
        a.filter = p->filter;
        a.bias = p->bias;
        a.multiplier = p->multiplier;
        a.shift = p->shift;
        a.per_channel = p->per_channel;
        a.out_offset = p->out_offset;
        a.act_min = p->act_min;
        a.act_max = p->act_max;
        if (!tinyml_mm_prepare(&a)) {
            return 0; /* the general requantization: the reference loop */
        }
        for (b = 0; b < p->batches; ++b) {
            tinyml_col_put(&col, 1, p->depth, 0, 0, input + b * p->depth, p->depth, p->in_offset);
            tinyml_mm_s8(&a, &col, 1, output + b * p->units, NULL);
        }
        return 1;
    }
    return 0;
}
#else
typedef int tinyml_fully_connected_fast_unused; /* ISO C: a translation unit is not empty */
#endif
