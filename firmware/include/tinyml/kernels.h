/* tinyml portable C99 kernels: the ops the aot engine's generated model.c calls.
 *
 * Conventions (every kernel follows them; new ops too):
 * - One op per file under firmware/src/kernels/, one section per op below.
 * - Each kernel takes `const <op>_params *p` first, then its activation inputs, then its
 *   output. Activations live in the RAM arena; tensor layouts are TFLite's (NHWC, OHWI).
 * - Everything known at generation time (shapes, zero points, requantization multipliers and
 *   shifts, activation ranges, pointers to weights) sits in the params struct, which the
 *   generator emits as TINYML_CONST (PROGMEM on AVR). A kernel first copies it to the stack
 *   with TINYML_LOAD_PARAMS and reads constant arrays through TINYML_READ_* only: on AVR,
 *   PROGMEM data cannot be dereferenced directly.
 * - int8 path: no float, no libm, no malloc; int32_t for every accumulator and index product
 *   (int is 16 bits on AVR).
 */
#ifndef TINYML_KERNELS_H
#define TINYML_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- constant data in flash ------------------------------------------------------------ */
/* TINYML_CONST marks read-only data kept in flash: `static TINYML_CONST int8_t w[] = {...};` */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define TINYML_CONST const PROGMEM
#define TINYML_READ_I8(ptr) ((int8_t)pgm_read_byte(ptr))
#define TINYML_READ_U8(ptr) ((uint8_t)pgm_read_byte(ptr))
#define TINYML_READ_I16(ptr) ((int16_t)pgm_read_word(ptr))
#define TINYML_READ_I32(ptr) ((int32_t)pgm_read_dword(ptr))
#define TINYML_READ_F32(ptr) (pgm_read_float(ptr))
#define TINYML_CONST_COPY(dst, src, n) memcpy_P((dst), (src), (n))
#else
#define TINYML_CONST const
#define TINYML_READ_I8(ptr) (*(const int8_t *)(ptr))
#define TINYML_READ_U8(ptr) (*(const uint8_t *)(ptr))
#define TINYML_READ_I16(ptr) (*(const int16_t *)(ptr))
#define TINYML_READ_I32(ptr) (*(const int32_t *)(ptr))
#define TINYML_READ_F32(ptr) (*(const float *)(ptr))
#define TINYML_CONST_COPY(dst, src, n) memcpy((dst), (src), (n))
#endif
/* The weight read the brief names; same as TINYML_READ_I8. */
#define TINYML_WEIGHT_READ(ptr) TINYML_READ_I8(ptr)
/* Copy a TINYML_CONST params struct into a local one. */
#define TINYML_LOAD_PARAMS(local, cptr) TINYML_CONST_COPY(&(local), (cptr), sizeof(local))

#if defined(__GNUC__) || defined(__clang__)
#define TINYML_ALIGNED(n) __attribute__((aligned(n)))
#else
#define TINYML_ALIGNED(n)
#endif

/* ---- requantization (requant.c) -------------------------------------------------------- */
/* acc * 2^shift * multiplier/2^31, + zero point, clamped to [act_min, act_max]. */
int8_t tinyml_requantize_s8(int32_t acc, int32_t multiplier, int shift, int32_t out_offset, int32_t act_min,
                            int32_t act_max);

/* ---- CONV_2D (conv.c) ------------------------------------------------------------------ */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;
    int32_t k_h, k_w, k_c;          /* k_c = in_c / groups */
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;           /* top / left padding */
    int32_t in_offset;              /* -input zero point */
    int32_t out_offset;             /* output zero point */
    int32_t act_min, act_max;
    int32_t per_channel;            /* 1: multiplier/shift per output channel, 0: one for all */
    const int8_t *filter;           /* TINYML_CONST [out_c][k_h][k_w][k_c] */
    const int32_t *bias;            /* TINYML_CONST [out_c] or NULL */
    const int32_t *multiplier;      /* TINYML_CONST [out_c] or [1] */
    const int8_t *shift;            /* TINYML_CONST [out_c] or [1] */
} tinyml_conv_params;

void tinyml_conv_s8(const tinyml_conv_params *p, const int8_t *input, int8_t *output);

/* ---- DEPTHWISE_CONV_2D (depthwise_conv.c) ---------------------------------------------- */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, in_c;
    int32_t out_h, out_w, out_c;    /* out_c = in_c * depth_multiplier */
    int32_t depth_multiplier;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t dilation_h, dilation_w;
    int32_t pad_h, pad_w;
    int32_t in_offset, out_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
    const int8_t *filter;           /* TINYML_CONST [1][k_h][k_w][out_c] */
    const int32_t *bias;
    const int32_t *multiplier;
    const int8_t *shift;
} tinyml_depthwise_conv_params;

void tinyml_depthwise_conv_s8(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output);

/* ---- FULLY_CONNECTED (fully_connected.c) ----------------------------------------------- */
typedef struct {
    int32_t batches;                /* rows of the input */
    int32_t depth;                  /* accumulation depth (input row length) */
    int32_t units;                  /* output row length */
    int32_t in_offset, filter_offset, out_offset;
    int32_t act_min, act_max;
    int32_t per_channel;
    const int8_t *filter;           /* TINYML_CONST [units][depth] */
    const int32_t *bias;            /* TINYML_CONST [units] or NULL */
    const int32_t *multiplier;
    const int8_t *shift;
} tinyml_fully_connected_params;

void tinyml_fully_connected_s8(const tinyml_fully_connected_params *p, const int8_t *input, int8_t *output);

/* ---- AVERAGE_POOL_2D, MAX_POOL_2D (pooling.c) ------------------------------------------ */
typedef struct {
    int32_t batches;
    int32_t in_h, in_w, channels;
    int32_t out_h, out_w;
    int32_t k_h, k_w;
    int32_t stride_h, stride_w;
    int32_t pad_h, pad_w;
    int32_t act_min, act_max;
} tinyml_pool_params;

void tinyml_avg_pool_s8(const tinyml_pool_params *p, const int8_t *input, int8_t *output);
void tinyml_max_pool_s8(const tinyml_pool_params *p, const int8_t *input, int8_t *output);

/* ---- PAD, PADV2 (pad.c) ---------------------------------------------------------------- */
/* Any rank up to 4, normalised to 4 dims (leading dims of size 1). Works on bytes: elem_bytes
 * gives the element size; pad_value holds one element's bytes (int8: the zero point). */
typedef struct {
    int32_t in_dims[4];
    int32_t out_dims[4];
    int32_t before[4];              /* padding before each dim (after: out - in - before) */
    int32_t elem_bytes;
    uint8_t pad_value[4];
} tinyml_pad_params;

void tinyml_pad(const tinyml_pad_params *p, const void *input, void *output);

/* ---- CONCATENATION (concatenation.c) --------------------------------------------------- */
/* outer = product of dims before the axis; each input contributes chunk_bytes[i] =
 * dim[axis] * product(dims after the axis) * element size per outer step. */
typedef struct {
    int32_t outer;
    int32_t count;
    const int32_t *chunk_bytes;     /* TINYML_CONST [count] */
} tinyml_concat_params;

void tinyml_concatenation(const tinyml_concat_params *p, const void *const *inputs, void *output);

/* ---- (more ops: add their section here, one per op) ------------------------------------ */

#ifdef __cplusplus
}
#endif

#endif /* TINYML_KERNELS_H */
