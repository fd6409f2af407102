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
 * - conv, depthwise conv and pooling may get an output that overlaps their input (the planner's
 *   row streaming): they must keep writing output rows in order (batch, y, x, channel) and,
 *   while writing row oy, read only input rows >= oy * stride - pad. Keep that when optimizing.
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
    /* TINYML_CONST [out_c][6] or NULL: the generator's per-channel constants for the 3x3 fast
     * path (depth multiplier 1, strides 1 or 2; layout in tinyml/codegen/aot/ops/depthwise_conv.py,
     * dw3_records). Only builds with the fast kernels hold them: TINYML_DW_PACK(a) is NULL elsewhere,
     * and in those builds a packed layer's filter, bias, multiplier and shift are NULL
     * (TINYML_DW_REF): the fast path computes every packed layer, so flash holds one copy. */
    const int32_t *packed;
} tinyml_depthwise_conv_params;

#if !defined(__AVR__) && !defined(TINYML_NO_FAST)
#define TINYML_DW_PACKED 1
#define TINYML_DW_PACK(a) (a)
#define TINYML_DW_REF(a) NULL
#else
#define TINYML_DW_PACK(a) NULL
#define TINYML_DW_REF(a) (a)
#endif

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

/* ==== activations, elementwise, reduce, (de)quantize: SOFTMAX LOGISTIC TANH ADD MUL MEAN
 * QUANTIZE DEQUANTIZE. Internal math: fx_nonlinear.h (gemmlowp exp/1/(1+x)). ==== */

/* ---- SOFTMAX (softmax.c) --------------------------------------------------------------- */
/* int8 -> int8 over the innermost dimension; output scale 1/256, zero point -128 (TFLM
 * requires both). input_multiplier/left_shift/diff_min as TFLM's SoftmaxPrepare computes them. */
typedef struct {
    int32_t outer;                  /* rows */
    int32_t depth;                  /* innermost dimension */
    int32_t input_multiplier;
    int32_t input_left_shift;
    int32_t diff_min;
    /* TINYML_CONST [min(-diff_min, 255) + 1] or NULL: the Q0 exp of each input difference 0, -1,
     * -2, ... as the kernel computes it, tabulated by the generator (an int8 difference has at
     * most 256 values). Only builds with the fast kernels hold it (TINYML_SM_TABLE). */
    const int32_t *exp_table;
} tinyml_softmax_params;

#if !defined(__AVR__) && !defined(TINYML_NO_FAST)
#define TINYML_SM_TABLES 1
#define TINYML_SM_TABLE(a) (a)
#else
#define TINYML_SM_TABLE(a) NULL
#endif

void tinyml_softmax_s8(const tinyml_softmax_params *p, const int8_t *input, int8_t *output);

/* ---- LOGISTIC (logistic.c), TANH (tanh.c) ---------------------------------------------- */
/* The input is rescaled to Q4.27 (multiplier/left_shift from frexp, as TFLM's Prepare);
 * |x - zero_point| >= range_radius saturates. LOGISTIC output: scale 1/256, zero point -128;
 * TANH output: scale 1/128, zero point 0. */
typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t input_range_radius;
    int32_t input_multiplier;
    int32_t input_left_shift;
} tinyml_sigmoid_params;

void tinyml_logistic_s8(const tinyml_sigmoid_params *p, const int8_t *input, int8_t *output);
void tinyml_tanh_s8(const tinyml_sigmoid_params *p, const int8_t *input, int8_t *output);

/* ---- ADD (add.c), MUL (mul.c) ---------------------------------------------------------- */
/* Broadcasting: shapes right-aligned to 4-D (NHWC); stride1/stride2 are each input's element
 * strides over the output's dims, 0 where that input is repeated. broadcast == 0: both inputs
 * have `size` elements and a flat loop runs. */
typedef struct {
    int32_t size;                   /* output elements */
    int32_t broadcast;
    int32_t dims[4];
    int32_t stride1[4];
    int32_t stride2[4];
    int32_t input1_offset;          /* -zero point of input 1 */
    int32_t input2_offset;
    int32_t output_offset;          /* output zero point */
    int32_t left_shift;             /* 20 for int8 */
    int32_t input1_multiplier, input1_shift;
    int32_t input2_multiplier, input2_shift;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tinyml_add_params;

void tinyml_add_s8(const tinyml_add_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);

typedef struct {
    int32_t size;
    int32_t broadcast;
    int32_t dims[4];
    int32_t stride1[4];
    int32_t stride2[4];
    int32_t input1_offset;
    int32_t input2_offset;
    int32_t output_offset;
    int32_t output_multiplier, output_shift;
    int32_t act_min, act_max;
} tinyml_mul_params;

void tinyml_mul_s8(const tinyml_mul_params *p, const int8_t *input1, const int8_t *input2, int8_t *output);

/* ---- MEAN (mean.c) --------------------------------------------------------------------- */
/* Any axes of a 4-D input. out_dims: the input dims with reduced axes set to 1; red_dims: the
 * reduced axes' sizes, 1 elsewhere. The output is row-major over out_dims (keep_dims only
 * changes the shape). multiplier/shift already fold in 1/count (TFLM QuantizedMeanOrSum). */
typedef struct {
    int32_t in_dims[4];
    int32_t out_dims[4];
    int32_t red_dims[4];
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t multiplier, shift;
} tinyml_mean_params;

void tinyml_mean_s8(const tinyml_mean_params *p, const int8_t *input, int8_t *output);

/* ---- QUANTIZE (quantize.c), DEQUANTIZE (dequantize.c) ---------------------------------- */
typedef struct {
    int32_t size;
    float scale;
    int32_t zero_point;
} tinyml_affine_params;

/* float32 -> int8: roundf(x / scale) + zero_point, clamped (TFLM AffineQuantize). */
void tinyml_quantize_f32_s8(const tinyml_affine_params *p, const float *input, int8_t *output);
/* int8 -> float32: scale * (q - zero_point) (TFLM Dequantize). */
void tinyml_dequantize_s8_f32(const tinyml_affine_params *p, const int8_t *input, float *output);

typedef struct {
    int32_t size;
    int32_t input_zero_point;
    int32_t output_zero_point;
    int32_t multiplier, shift;
} tinyml_requantize_params;

/* int8 -> int8 with another scale / zero point (TFLM Requantize). */
void tinyml_quantize_s8_s8(const tinyml_requantize_params *p, const int8_t *input, int8_t *output);

/* ---- SPACE_TO_BATCH_ND (space_to_batch_nd.c), BATCH_TO_SPACE_ND (batch_to_space_nd.c) ---- */
/* The converter wraps SAME dilated convolutions in this pair. 4-D NHWC (3-D inputs get w = 1);
 * rows of depth_bytes are copied whole. pad/crop: top and left padding (SPACE_TO_BATCH) or
 * cropping (BATCH_TO_SPACE); pad_value fills padded rows (the zero point for int8). */
typedef struct {
    int32_t in_batch, in_h, in_w;
    int32_t out_batch, out_h, out_w;
    int32_t block_h, block_w;
    int32_t top, left;
    int32_t depth_bytes;
    int32_t pad_value;
} tinyml_space_batch_params;

void tinyml_space_to_batch_nd(const tinyml_space_batch_params *p, const void *input, void *output);
void tinyml_batch_to_space_nd(const tinyml_space_batch_params *p, const void *input, void *output);

/* ---- RELU, RELU6 as separate ops (relu.c) ------------------------------------------------ */
/* RELU requantizes (input and output scales may differ) then clamps, as TFLM's ReluQuantized;
 * RELU6 only clamps to [zero point, q(6)] of the input (requantize = 0), as TFLM's Relu6. */
typedef struct {
    int32_t size;
    int32_t requantize;
    int32_t in_zero_point, out_zero_point;
    int32_t multiplier, shift;
    int32_t act_min, act_max;
} tinyml_relu_params;

void tinyml_relu_s8(const tinyml_relu_params *p, const int8_t *input, int8_t *output);

/* ---- (more ops: add their section here, one per op) ------------------------------------ */

#ifdef __cplusplus
}
#endif

#endif /* TINYML_KERNELS_H */
