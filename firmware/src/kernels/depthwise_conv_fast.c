/* DEPTHWISE_CONV_2D fast paths (see kernels_fast.h); tinyml_depthwise_conv_s8 tries them first.
 *
 * - 3x3, depth multiplier 1, strides 1 and 2, with the generator's packed per-channel constants
 *   (params->packed): dw3_run, a zero-point-padded int16 window buffer per output row and group
 *   of 4 channels, then each channel's row with its weights in registers (DSP: SMLAD on pairs of
 *   taps, in asm). See the section "3x3 windows" below.
 * - Any other depth-multiplier-1 layer: dw_generic. Per output pixel the window is clipped to
 *   the image once; then for each group of channels (4 with DSP: SXTB16 + SADD16 + SMLABB/SMLATT;
 *   2 in portable C) the accumulators stay in registers over the valid taps, walking input and
 *   filter by whole pixels, and the group is requantized at once.
 * Both write output pixels in order (row streaming, see kernels.h, stays valid). */
#include "tinyml/kernels.h"
#include "tinyml/kernels_fast.h"

#ifdef TINYML_FAST

#if defined(__GNUC__)
#define TINYML_DW_NOINLINE __attribute__((noinline))
#else
#define TINYML_DW_NOINLINE
#endif

typedef struct {
    const int32_t *bias;
    const int32_t *mult;
    const int8_t *shift;
    int32_t qstep, out_offset, act_min, act_max;
} dw_quant;

/* Requantize channels c .. c + n - 1 of one output pixel with tinyml_requant_short. mode 1:
 * clamp to [act_min, act_max]; 2: the whole int8 range (SSAT); constant per call site. (Layers
 * that need the general requantization run the reference loop: tinyml_depthwise_conv_fast.) */
TINYML_INLINE void dw_store(const dw_quant q, int32_t c, int32_t n, const int32_t *acc, int8_t *out, const int mode)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        const int32_t m = q.mult[(c + i) * q.qstep];
        const int s = q.shift[(c + i) * q.qstep];
        const int32_t v = acc[i] + (q.bias ? q.bias[c + i] : 0);
        int32_t y = tinyml_requant_short(v, m, -s, INT32_C(1) << (-s - 1), q.out_offset);
        if (mode == 2) {
            y = tinyml_sat8(y);
        } else {
            y = y < q.act_min ? q.act_min : y;
            y = y > q.act_max ? q.act_max : y;
        }
        out[c + i] = (int8_t)y;
    }
}

/* dw_store for 4 channels with the accumulators in registers (no array in memory), one output at a
 * time: computing all four before storing spilled registers. q is passed by value: a local whose
 * address is not taken cannot alias the int8 stores, so its fields stay in registers. */
TINYML_INLINE int8_t dw_one(const dw_quant q, int32_t c, int32_t acc, const int mode)
{
    const int32_t m = q.mult[c * q.qstep];
    const int s = q.shift[c * q.qstep];
    const int32_t v = acc + (q.bias ? q.bias[c] : 0);
    int32_t y = tinyml_requant_short(v, m, -s, INT32_C(1) << (-s - 1), q.out_offset);
    if (mode == 2) {
        return (int8_t)tinyml_sat8(y);
    }
    y = y < q.act_min ? q.act_min : y;
    y = y > q.act_max ? q.act_max : y;
    return (int8_t)y;
}

TINYML_INLINE void dw_store4(const dw_quant q, int32_t c, int32_t a0, int32_t a1, int32_t a2, int32_t a3,
                             int8_t *out, const int mode)
{
    out[c] = dw_one(q, c, a0, mode);
    out[c + 1] = dw_one(q, c + 1, a1, mode);
    out[c + 2] = dw_one(q, c + 2, a2, mode);
    out[c + 3] = dw_one(q, c + 3, a3, mode);
}

/* The generic depthwise loops (3x3 layers the generator packed take dw3_run instead). */
/* Window sums of n channels (a constant at each call: the loop over them unrolls) from the first
 * tap xr / wr, the input offset added per tap (the generic path: borders keep their own taps). */
TINYML_INLINE void dw_window_sums(const int8_t *xr, const int8_t *wr, int32_t nky, int32_t nkx, int32_t x_step,
                                  int32_t y_step, int32_t w_row, int32_t ch, int32_t in_offset, const int n,
                                  int32_t *acc)
{
    int32_t ky, kx, i;
    for (i = 0; i < n; ++i) {
        acc[i] = 0;
    }
    for (ky = nky; ky > 0; --ky, xr += y_step, wr += w_row) {
        const int8_t *xp = xr;
        const int8_t *wp = wr;
        for (kx = nkx; kx > 0; --kx, xp += x_step, wp += ch) {
            for (i = 0; i < n; ++i) {
                acc[i] += wp[i] * (xp[i] + in_offset);
            }
        }
    }
}

TINYML_INLINE void dw_body(const tinyml_depthwise_conv_params *p, const dw_quant q, const int8_t *input,
                           int8_t *output, const int mode)
{
    const int32_t ch = p->in_c;
    const int32_t x_step = p->dilation_w * ch;
    const int32_t y_step = p->dilation_h * p->in_w * ch;
    const int32_t x_span = p->dilation_w * (p->k_w - 1); /* window width - 1 */
    int32_t b, oy, ox;
#ifdef TINYML_USE_DSP
    const uint32_t off2 = ((uint32_t)p->in_offset & 0xFFFFu) * 0x10001u;
#endif
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * p->in_w * ch;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * p->stride_h - p->pad_h;
            int32_t ky0 = 0, ky1 = p->k_h;
            while (ky0 < ky1 && iy0 + p->dilation_h * ky0 < 0) {
                ++ky0;
            }
            while (ky1 > ky0 && iy0 + p->dilation_h * (ky1 - 1) >= p->in_h) {
                --ky1;
            }
            for (ox = 0; ox < p->out_w; ++ox) {
                const int32_t ix0 = ox * p->stride_w - p->pad_w;
                int32_t kx0 = 0, kx1 = p->k_w, c = 0, nky, nkx;
                const int8_t *x_base;
                const int8_t *w_base;
                if (ix0 < 0 || ix0 + x_span >= p->in_w) { /* clip the window at the left / right edge */
                    while (kx0 < kx1 && ix0 + p->dilation_w * kx0 < 0) {
                        ++kx0;
                    }
                    while (kx1 > kx0 && ix0 + p->dilation_w * (kx1 - 1) >= p->in_w) {
                        --kx1;
                    }
                }
                nky = ky1 - ky0;
                nkx = kx1 - kx0;
                x_base = in_b + ((iy0 + p->dilation_h * ky0) * p->in_w + ix0 + p->dilation_w * kx0) * ch;
                w_base = p->filter + (ky0 * p->k_w + kx0) * ch;
#ifdef TINYML_USE_DSP
#define TINYML_DW_TAP4()                                                                          \
    do {                                                                                             \
        const uint32_t xv = tinyml_ld32(xp), wv = tinyml_ld32(wp);                                   \
        const uint32_t xe = tinyml_sadd16(tinyml_sxtb16(xv), off2);                                  \
        const uint32_t xo = tinyml_sadd16(tinyml_sxtb16_ror8(xv), off2);                             \
        const uint32_t we = tinyml_sxtb16(wv), wo = tinyml_sxtb16_ror8(wv);                          \
        acc0 = tinyml_smlabb(we, xe, acc0);                                                          \
        acc2 = tinyml_smlatt(we, xe, acc2);                                                          \
        acc1 = tinyml_smlabb(wo, xo, acc1);                                                          \
        acc3 = tinyml_smlatt(wo, xo, acc3);                                                          \
        xp += x_step;                                                                                \
        wp += ch;                                                                                    \
    } while (0)
                for (; c + 4 <= ch; c += 4) {
                    int32_t acc0 = 0, acc1 = 0, acc2 = 0, acc3 = 0;
                    const int8_t *xr = x_base + c;
                    const int8_t *wr = w_base + c;
                    int32_t ky, kx;
                    for (ky = nky; ky > 0; --ky, xr += y_step, wr += p->k_w * ch) {
                        const int8_t *xp = xr;
                        const int8_t *wp = wr;
                        for (kx = nkx; kx > 0; --kx) {
                            TINYML_DW_TAP4();
                        }
                    }
                    dw_store4(q, c, acc0, acc1, acc2, acc3, output, mode);
                }
#undef TINYML_DW_TAP4
#else
                for (; c + 2 <= ch; c += 2) {
                    int32_t acc[2];
                    dw_window_sums(x_base + c, w_base + c, nky, nkx, x_step, y_step, p->k_w * ch, ch, p->in_offset,
                                   2, acc);
                    dw_store(q, c, 2, acc, output, mode);
                }
#endif
                for (; c < ch; ++c) {
                    int32_t acc;
                    dw_window_sums(x_base + c, w_base + c, nky, nkx, x_step, y_step, p->k_w * ch, ch, p->in_offset,
                                   1, &acc);
                    dw_store(q, c, 1, &acc, output, mode);
                }
                output += ch;
            }
        }
    }
}

/* ==== 3x3 windows, depth multiplier 1, strides 1 and 2: the generator's packed constants ====
 *
 * For each output row and group of 4 channels, the three input rows the row reads are first
 * copied into a window buffer on the stack (dw3_fill) as int16 pairs: per column pair j (buffer
 * columns 2j, 2j + 1) and channel i of the group, three words at 12j + 3i: (r0, r1) of column 2j,
 * (r0, r1) of column 2j + 1 and (r2 of 2j, r2 of 2j + 1), r0..r2 the rows. Taps outside the image
 * hold the input zero point: with the offset folded into the bias (packed[] = dw3_records, see
 * tinyml/codegen/aot/ops/depthwise_conv.py) such a tap adds w * zp + w * in_offset = 0, exactly
 * TFLM's skipped tap, so every window is an interior window. Then each channel walks its row with
 * its weights in registers: with DSP, SMLAD of a buffer word and a weight pair does two taps
 * (10 multiply instructions for two outputs sharing their loads). Rows are written in order and a
 * row reads only input rows >= oy * stride - pad: row streaming (kernels.h) holds. */

/* Column pairs the window buffer holds (48 bytes each, plus 6 pointers: 1.3 KB of stack for 26,
 * with the zero-point row 1.6 KB): rows of up to 48 outputs (stride 1) or 25 (stride 2) in one
 * segment, wider rows in several. At most TINYML_DW_MAX_CH channels (the zero-point row): the
 * generator packs no wider layer (ops/depthwise_conv.py DW3_MAX_CH: keep them equal), since a
 * packed layer has no reference arrays in these builds, so dw3_run must accept it. */
#ifndef TINYML_DW_MAX_PAIRS
#define TINYML_DW_MAX_PAIRS 26
#endif

typedef struct {
    const int8_t *const *src; /* 0: per column pair 6 pointers at channel 0 (rows 0, 1, 2 x columns
                               * 2j, 2j + 1), then a NULL: the end of the fill */
    uint32_t *buf;            /* 4 */
    int8_t *out;              /* 8: output pixel 0 of the row, channel 0 */
    int32_t ch;               /* 12: channels = output pixel stride */
    const int32_t *rec;       /* 16: packed constants of channel 0 */
    int32_t pairs_bytes;      /* 20: buffer bytes of a row's output pairs (48 or 96 per pair, > 0) */
    int32_t tail;             /* 24: unused (the _t functions end odd rows) */
    int32_t skip;             /* 28: bytes from the end of a channel's pairs to the next channel */
    int32_t gend;             /* 32: channels in whole groups of 4 (> 0) */
} dw3_job;

TINYML_INLINE uint32_t dw3_pack(int32_t lo, int32_t hi)
{
    return ((uint32_t)lo & 0xFFFFu) | ((uint32_t)hi << 16);
}

#ifdef TINYML_USE_DSP
/* One column pair of 4 channels: SXTB16 gives channels (0, 2) of a word, with ROR 8 (1, 3);
 * PKHBT / PKHTB pair them across rows (or columns for row 2). */
#define TINYML_DW3_PAIR(P, Q, X, Y, E, F, T, W, OFF0, OFF1, OFF2, OFF3) \
    "ldr " X ", " P "\n\t"                                              \
    "ldr " Y ", " Q "\n\t"                                              \
    "sxtb16 " E ", " X "\n\t"                                           \
    "sxtb16 " F ", " Y "\n\t"                                           \
    "sxtb16 " X ", " X ", ror #8\n\t"                                   \
    "sxtb16 " Y ", " Y ", ror #8\n\t"                                   \
    "pkhbt " T ", " E ", " F ", lsl #16\n\t"                            \
    "pkhtb " E ", " F ", " E ", asr #16\n\t"                            \
    "str " T ", [" W ", #" OFF0 "]\n\t"                                 \
    "str " E ", [" W ", #" OFF2 "]\n\t"                                 \
    "pkhbt " T ", " X ", " Y ", lsl #16\n\t"                            \
    "pkhtb " X ", " Y ", " X ", asr #16\n\t"                            \
    "str " T ", [" W ", #" OFF1 "]\n\t"                                 \
    "str " X ", [" W ", #" OFF3 "]\n\t"
#endif

/* The buffer's first nf column pairs for channels [g0, g0 + gn) of the row src[] describes. */
static void dw3_fill_c(uint32_t *w, const int8_t *const *src, int32_t nf, int32_t g0, int32_t gn)
{
    int32_t j, i;
    for (j = 0; j < nf; ++j, src += 6, w += 12) {
        const int8_t *a0 = src[0] + g0, *a1 = src[1] + g0, *b0 = src[2] + g0;
        const int8_t *b1 = src[3] + g0, *c0 = src[4] + g0, *c1 = src[5] + g0;
#ifdef TINYML_USE_DSP
        if (gn == 4) {
            uint32_t x, y, e, f, t;
            __asm__ volatile(
                TINYML_DW3_PAIR("[%[a0]]", "[%[b0]]", "%[x]", "%[y]", "%[e]", "%[f]", "%[t]", "%[w]", "0", "12", "24", "36")
                TINYML_DW3_PAIR("[%[a1]]", "[%[b1]]", "%[x]", "%[y]", "%[e]", "%[f]", "%[t]", "%[w]", "4", "16", "28", "40")
                TINYML_DW3_PAIR("[%[c0]]", "[%[c1]]", "%[x]", "%[y]", "%[e]", "%[f]", "%[t]", "%[w]", "8", "20", "32", "44")
                : [x] "=&r"(x), [y] "=&r"(y), [e] "=&r"(e), [f] "=&r"(f), [t] "=&r"(t)
                : [a0] "r"(a0), [a1] "r"(a1), [b0] "r"(b0), [b1] "r"(b1), [c0] "r"(c0), [c1] "r"(c1), [w] "r"(w)
                : "memory");
            continue;
        }
#endif
        for (i = 0; i < gn; ++i) {
            w[3 * i] = dw3_pack(a0[i], b0[i]);
            w[3 * i + 1] = dw3_pack(a1[i], b1[i]);
            w[3 * i + 2] = dw3_pack(c0[i], c1[i]);
        }
    }
}

/* The C path computes one output row of one group (the DSP build's clamped layers and partial
 * groups, and every other build): per channel, the three kernel rows into acc[], then the
 * requantization. mode 2: the whole int8 range (SSAT where the core has it); 1: clamp to [act_min, act_max] */
TINYML_INLINE int8_t dw3_requant(int32_t acc, int32_t m, int32_t rnd, int rs, int32_t act_min, int32_t act_max,
                                 const int mode)
{
    int32_t y = tinyml_mulhi_round(acc, m);
    y = (y + rnd + (y >> 31)) >> rs;
    if (mode == 2) {
        return (int8_t)tinyml_sat8(y);
    }
    y = y < act_min ? act_min : y;
    y = y > act_max ? act_max : y;
    return (int8_t)y;
}

TINYML_INLINE void dw3_rows_body(const uint32_t *buf, int8_t *out_g, const int32_t *rec, int32_t ch, int32_t n,
                                 int32_t stride, int32_t out_w, int32_t act_min, int32_t act_max, const int mode)
{
    int32_t i;
    for (i = 0; i < n; ++i, rec += 6) {
        const uint32_t wa = (uint32_t)rec[0], wb = (uint32_t)rec[1];
        /* wa = bytes (w00, w01, w10, w11), wb = (w02, w20, w12, w21), rec[5] = 2 w22 << 16 | rs */
        const int32_t w00 = (int8_t)wa, w01 = (int8_t)(wa >> 8), w10 = (int8_t)(wa >> 16), w11 = (int8_t)(wa >> 24);
        const int32_t w02 = (int8_t)wb, w20 = (int8_t)(wb >> 8), w12 = (int8_t)(wb >> 16), w21 = (int8_t)(wb >> 24);
        const int32_t w22 = rec[5] >> 17, bias = rec[2] >> 1;
        const int16_t *q = (const int16_t *)(const void *)buf + 6 * i;
        const int16_t *q_end = q + 24 * (stride == 1 ? out_w / 2 : out_w);
        int8_t *out = out_g + i;
        if (stride == 1) {
            /* outputs 2k, 2k + 1: columns 2k .. 2k + 3 of the three rows */
            for (; q != q_end; q += 24, out += 2 * ch) {
                int32_t a0 = bias, a1 = bias, x;
                x = q[0], a0 += w00 * x;
                x = q[1], a0 += w10 * x;
                x = q[4], a0 += w20 * x;
                x = q[2], a0 += w01 * x, a1 += w00 * x;
                x = q[3], a0 += w11 * x, a1 += w10 * x;
                x = q[5], a0 += w21 * x, a1 += w20 * x;
                x = q[24], a0 += w02 * x, a1 += w01 * x;
                x = q[25], a0 += w12 * x, a1 += w11 * x;
                x = q[28], a0 += w22 * x, a1 += w21 * x;
                x = q[26], a1 += w02 * x;
                x = q[27], a1 += w12 * x;
                x = q[29], a1 += w22 * x;
                out[0] = dw3_requant(a0, rec[3], rec[4], rec[5] & 0xFF, act_min, act_max, mode);
                out[ch] = dw3_requant(a1, rec[3], rec[4], rec[5] & 0xFF, act_min, act_max, mode);
            }
            if (!(out_w & 1)) {
                continue;
            }
            q_end += 24;
        }
        for (; q != q_end; q += 24, out += ch) { /* stride 2, and the last output of stride 1 */
            const int32_t a0 = bias + w00 * q[0] + w10 * q[1] + w20 * q[4] + w01 * q[2] + w11 * q[3] + w21 * q[5] +
                               w02 * q[24] + w12 * q[25] + w22 * q[28];
            *out = dw3_requant(a0, rec[3], rec[4], rec[5] & 0xFF, act_min, act_max, mode);
        }
    }
}

static void dw3_rows_c(const uint32_t *buf, int8_t *out_g, const int32_t *rec, int32_t ch, int32_t n,
                       int32_t stride, int32_t out_w, int32_t act_min, int32_t act_max)
{
    if (act_min <= -128 && act_max >= 127) {
        dw3_rows_body(buf, out_g, rec, ch, n, stride, out_w, act_min, act_max, 2);
    } else {
        dw3_rows_body(buf, out_g, rec, ch, n, stride, out_w, act_min, act_max, 1);
    }
}

#if defined(TINYML_USE_DSP) && defined(__thumb2__)
/* The DSP row loop, one function per stride (dw3_job in r0), for every group of 4 channels:
 * - fill the group's window buffer (6 source pointers per column pair from job->src, + the
 *   group's first channel: 38 instructions per pair of columns x 4 channels);
 * - for each channel unpack its constants (weights as doubled int16 pairs: the accumulator is
 *   twice the sum, so SMMLAR of it is gemmlowp's rounding doubling high multiply), then two
 *   outputs per pass: 6 (stride 1) or 8 (stride 2) buffer loads, 10 multiply-accumulates, and the
 *   requantization (SMMLAR with the rounding constant and sign folded in, ASR, SSAT: the whole
 *   int8 range only).
 * Registers of the channel loop: r0 buffer, r1 output, r2 ch, r3 end of the pairs, r4-r8 weights,
 * r9 bias, r10/r11 accumulators, r12 the multiplier, lr scratch. Frame: [sp] m, rnd, rs (low
 * byte of wc); 12 output of the channel; 16 first channel of the group; 20 end of the channel
 * loop; 24 .. 56 a copy of the job (src buf out ch rec pairs_bytes tail skip gend). */
void tinyml_dw3_dsp_s1(dw3_job *job);  /* stride 1, even row */
void tinyml_dw3_dsp_s1t(dw3_job *job); /* stride 1, odd row: a last single output */
void tinyml_dw3_dsp_s2(dw3_job *job);
void tinyml_dw3_dsp_s2t(dw3_job *job);
__asm__(
    "    .syntax unified\n"
    "    .macro TINYML_DW3_REQ acc, dst\n"
    "    ldr lr, [sp, #4]\n"
    "    add lr, lr, \\acc, asr #31\n"
    "    smmlar \\acc, \\acc, r12, lr\n"
    "    ldr lr, [sp, #8]\n"
    "    asr \\acc, \\acc, lr\n"
    "    ssat \\acc, #8, \\acc\n"
    "    strb \\acc, \\dst\n"
    "    .endm\n"
    "    .macro TINYML_DW3_FN name, stride, tail\n"
    "    .text\n"
    "    .align 2\n"
    "    .global \\name\n"
    "    .hidden \\name\n"
    "    .thumb\n"
    "    .thumb_func\n"
    "    .type \\name, %function\n"
    "\\name:\n"
    "    push {r4-r11, lr}\n"
    "    sub sp, sp, #64\n"
    "    ldmia r0, {r1-r9}\n"         /* the job: src buf out ch rec pairs tail skip gend */
    "    add r10, sp, #24\n"
    "    stmia r10, {r1-r9}\n"        /* at [sp, #24] .. [sp, #56] */
    "    movs r1, #0\n"
    "    str r1, [sp, #16]\n"  /* g0: first channel of the group */
    "5:\n" /* group: fill its buffer */
    "    ldr lr, [sp, #24]\n"
    "    ldr r11, [sp, #28]\n"
    "    ldr r10, [sp, #16]\n"
    "    ldmia lr!, {r4-r9}\n" /* at least one pair */
    "6:\n"
    /* rows 0 and 1, columns 2j and 2j + 1: each channel's two (r0, r1) words with one STRD */
    "    ldr r0, [r4, r10]\n"
    "    ldr r1, [r6, r10]\n"
    "    ldr r2, [r5, r10]\n"
    "    ldr r3, [r7, r10]\n"
    "    sxtb16 r4, r0\n"
    "    sxtb16 r5, r1\n"
    "    sxtb16 r6, r2\n"
    "    sxtb16 r7, r3\n"
    "    pkhbt r12, r4, r5, lsl #16\n"
    "    pkhtb r5, r5, r4, asr #16\n"
    "    pkhbt r4, r6, r7, lsl #16\n"
    "    pkhtb r7, r7, r6, asr #16\n"
    "    strd r12, r4, [r11, #0]\n"   /* channel 0 */
    "    strd r5, r7, [r11, #24]\n"   /* channel 2 */
    "    sxtb16 r4, r0, ror #8\n"
    "    sxtb16 r5, r1, ror #8\n"
    "    sxtb16 r6, r2, ror #8\n"
    "    sxtb16 r7, r3, ror #8\n"
    "    pkhbt r12, r4, r5, lsl #16\n"
    "    pkhtb r5, r5, r4, asr #16\n"
    "    pkhbt r4, r6, r7, lsl #16\n"
    "    pkhtb r7, r7, r6, asr #16\n"
    "    strd r12, r4, [r11, #12]\n"  /* channel 1 */
    "    strd r5, r7, [r11, #36]\n"   /* channel 3 */
    TINYML_DW3_PAIR("[r8, r10]", "[r9, r10]", "r0", "r1", "r2", "r3", "r12", "r11", "8", "20", "32", "44")
    "    add r11, r11, #48\n"
    "    ldmia lr!, {r4-r9}\n"
    "    cmp r4, #0\n"
    "    bne 6b\n"
    /* the group's 4 channels */
    "    ldr r1, [sp, #32]\n"
    "    add r1, r1, r10\n"
    "    str r1, [sp, #12]\n"  /* output of the channel */
    "    ldr r2, [sp, #36]\n"
    "    ldr r0, [sp, #28]\n"
    "    add r3, r0, #48\n"
    "    str r3, [sp, #20]\n"  /* end of the channel loop */
    "1:\n"
    "    ldr r12, [sp, #40]\n"
    "    ldmia r12!, {r4, r5, r9, r10, r11, lr}\n" /* wa wb bias2 m rnd wc */
    "    str r12, [sp, #40]\n"
    "    stmia sp, {r10, r11, lr}\n" /* m, rnd, rs (ASR reads the low byte of wc) */
    "    sxtb16 r7, r5, ror #8\n"     /* (w20, w21) */
    "    sxtb16 r6, r5\n"             /* (w02, w12) */
    "    sxtb16 r5, r4, ror #8\n"     /* (w01, w11) */
    "    sxtb16 r4, r4\n"             /* (w00, w10) */
    "    sadd16 r4, r4, r4\n"
    "    sadd16 r5, r5, r5\n"
    "    sadd16 r6, r6, r6\n"
    "    sadd16 r7, r7, r7\n"
    "    pkhtb r8, lr, r7, asr #16\n" /* (2 w21, 2 w22) */
    "    mov r12, r10\n"              /* m for the whole row (loads go through lr) */
    "    ldr r3, [sp, #44]\n"
    "    add r3, r0, r3\n"
    "2:\n"
    "    .if \\stride == 1\n"
    /* outputs 2k, 2k + 1 from column pairs k, k + 1 (r0 points at pair k + 1 after the first load) */
    "    ldr lr, [r0], #48\n"        /* (r0, r1) col 2k */
    "    smlad r10, lr, r4, r9\n"
    "    ldr lr, [r0, #-44]\n"       /* col 2k + 1 */
    "    smlad r10, lr, r5, r10\n"
    "    smlad r11, lr, r4, r9\n"
    "    ldr lr, [r0, #0]\n"         /* col 2k + 2 */
    "    smlad r10, lr, r6, r10\n"
    "    smlad r11, lr, r5, r11\n"
    "    ldr lr, [r0, #4]\n"         /* col 2k + 3 */
    "    smlad r11, lr, r6, r11\n"
    "    ldr lr, [r0, #-40]\n"       /* row 2: cols 2k, 2k + 1 */
    "    smlad r10, lr, r7, r10\n"
    "    smlatb r11, lr, r7, r11\n"
    "    ldr lr, [r0, #8]\n"         /* row 2: cols 2k + 2, 2k + 3 */
    "    smlabt r10, lr, r8, r10\n"
    "    smlad r11, lr, r8, r11\n"
    "    .else\n"
    /* outputs ox, ox + 1 from column pairs ox .. ox + 2 */
    "    ldr lr, [r0], #96\n"        /* col 2ox */
    "    smlad r10, lr, r4, r9\n"
    "    ldr lr, [r0, #-92]\n"       /* col 2ox + 1 */
    "    smlad r10, lr, r5, r10\n"
    "    ldr lr, [r0, #-48]\n"       /* col 2ox + 2 */
    "    smlad r10, lr, r6, r10\n"
    "    smlad r11, lr, r4, r9\n"
    "    ldr lr, [r0, #-44]\n"       /* col 2ox + 3 */
    "    smlad r11, lr, r5, r11\n"
    "    ldr lr, [r0, #0]\n"         /* col 2ox + 4 */
    "    smlad r11, lr, r6, r11\n"
    "    ldr lr, [r0, #-88]\n"       /* row 2: cols 2ox, 2ox + 1 */
    "    smlad r10, lr, r7, r10\n"
    "    ldr lr, [r0, #-40]\n"       /* row 2: cols 2ox + 2, 2ox + 3 */
    "    smlabt r10, lr, r8, r10\n"
    "    smlad r11, lr, r7, r11\n"
    "    ldr lr, [r0, #8]\n"         /* row 2: col 2ox + 4 */
    "    smlabt r11, lr, r8, r11\n"
    "    .endif\n"
        "    TINYML_DW3_REQ r10, \"[r1]\"\n"
    "    TINYML_DW3_REQ r11, \"[r1, r2]\"\n"
    "    add r1, r1, r2, lsl #1\n"
    "    cmp r0, r3\n"
    "    bne 2b\n"
    "    .if \\tail\n"
    /* the last output of an odd row: columns 2k .. 2k + 2 of pairs k, k + 1 (both strides) */
    "    ldr lr, [r0, #0]\n"
    "    smlad r10, lr, r4, r9\n"
    "    ldr lr, [r0, #4]\n"
    "    smlad r10, lr, r5, r10\n"
    "    ldr lr, [r0, #48]\n"
    "    smlad r10, lr, r6, r10\n"
    "    ldr lr, [r0, #8]\n"
    "    smlad r10, lr, r7, r10\n"
    "    ldr lr, [r0, #56]\n"
    "    smlabt r10, lr, r8, r10\n"
        "    TINYML_DW3_REQ r10, \"[r1]\"\n"
    "    .endif\n"
    "    ldr r3, [sp, #52]\n"
    "    add r0, r0, r3\n"
    "    ldr r1, [sp, #12]\n"
    "    adds r1, r1, #1\n"
    "    str r1, [sp, #12]\n"
    "    ldr r3, [sp, #20]\n"
    "    cmp r0, r3\n"
    "    bne 1b\n"
    /* next group */
    "    ldr r1, [sp, #16]\n"
    "    adds r1, r1, #4\n"
    "    str r1, [sp, #16]\n"
    "    ldr r3, [sp, #56]\n"
    "    cmp r1, r3\n"
    "    bne 5b\n"
    "    add sp, sp, #64\n"
    "    pop {r4-r11, pc}\n"
    "    .size \\name, . - \\name\n"
    "    .endm\n"
    "    TINYML_DW3_FN tinyml_dw3_dsp_s1, 1, 0\n"
    "    TINYML_DW3_FN tinyml_dw3_dsp_s1t, 1, 1\n"
    "    TINYML_DW3_FN tinyml_dw3_dsp_s2, 2, 0\n"
    "    TINYML_DW3_FN tinyml_dw3_dsp_s2t, 2, 1\n"
    "    .purgem TINYML_DW3_FN\n"
    "    .purgem TINYML_DW3_REQ\n");
#endif

/* 1 when the 3x3 path computed the op; 0 when its row is too wide for the buffer or it has more
 * than TINYML_DW_MAX_CH channels (then the generic path below runs: it does not need packed[]). */
static TINYML_DW_NOINLINE int dw3_run(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output)
{
    uint32_t buf[12 * TINYML_DW_MAX_PAIRS];
    const int8_t *src[6 * TINYML_DW_MAX_PAIRS + 1];
    int8_t zp[TINYML_DW_MAX_CH];
    const int32_t s = p->stride_w, ch = p->in_c, out_w = p->out_w, in_w = p->in_w, pad_w = p->pad_w;
    /* outputs per segment of a row: a segment of n reads (n + 3) / 2 (stride 1, n even but the
     * last) or n + 1 (stride 2) column pairs; a row that fits is one segment */
    const int32_t seg = s == 1 ? 2 * (TINYML_DW_MAX_PAIRS - 2) : TINYML_DW_MAX_PAIRS - 1;
    const int32_t one = out_w <= seg;
    const int32_t nj1 = s == 1 ? (out_w + 3) / 2 : out_w + 1;
    /* one segment: the pairs from jz on lie right of the image, zero points whatever the row,
     * filled once here and left out of each row's fill */
    const int32_t jz = (in_w + pad_w + 1) / 2;
    const int full = p->act_min <= -128 && p->act_max >= 127;
    int32_t b, oy, j, n = 0, nj = 0, nf = 0;
#if defined(TINYML_USE_DSP) && defined(__thumb2__)
    dw3_job job;
#endif
    if (ch > TINYML_DW_MAX_CH) {
        return 0;
    }
    memset(zp, -p->in_offset, (size_t)ch);
    if (one) {
        for (j = 12 * jz; j < 12 * nj1; ++j) {
            buf[j] = dw3_pack(-p->in_offset, -p->in_offset);
        }
    }
#if defined(TINYML_USE_DSP) && defined(__thumb2__)
    job.src = src;
    job.buf = buf;
    job.ch = ch;
    job.rec = p->packed;
    job.gend = ch & ~3;
    job.tail = 0;
#endif
    for (b = 0; b < p->batches; ++b) {
        const int8_t *in_b = input + b * p->in_h * in_w * ch;
        for (oy = 0; oy < p->out_h; ++oy) {
            const int32_t iy0 = oy * s - p->pad_h;
            int8_t *out_row = output + ((b * p->out_h + oy) * out_w) * ch;
            int32_t ox0;
            for (ox0 = 0; ox0 < out_w; ox0 += n) {
                const int32_t x0 = ox0 * s - pad_w; /* input column of buffer column 0 */
                int32_t r, g0 = 0;
                if (n != (out_w - ox0 < seg ? out_w - ox0 : seg)) { /* a new segment length */
                    n = out_w - ox0 < seg ? out_w - ox0 : seg;
                    nj = s == 1 ? (n + 3) / 2 : n + 1;
                    nf = one && jz < nj ? jz : nj;
#if defined(TINYML_USE_DSP) && defined(__thumb2__)
                    job.pairs_bytes = (s == 1 ? 48 : 96) * (n / 2);
                    job.skip = 12 - job.pairs_bytes; /* back to the next channel of pair 0 */
#endif
                }
                for (r = 0; r < 3; ++r) {
                    const int32_t iy = iy0 + r;
                    const int8_t *row = iy >= 0 && iy < p->in_h ? in_b + iy * in_w * ch : NULL;
                    const int8_t **e = src + 2 * r;
                    if (!row) {
                        for (j = 0; j < nf; ++j, e += 6) {
                            e[0] = zp, e[1] = zp;
                        }
                    } else {
                        int32_t ix = x0, off = x0 * ch;
                        for (j = 0; j < nf; ++j, e += 6, ix += 2, off += 2 * ch) {
                            e[0] = (uint32_t)ix < (uint32_t)in_w ? row + off : zp;
                            e[1] = (uint32_t)(ix + 1) < (uint32_t)in_w ? row + off + ch : zp;
                        }
                    }
                }
                src[6 * nf] = NULL; /* the DSP fill's end */
#if defined(TINYML_USE_DSP) && defined(__thumb2__)
                if (full && ch >= 4 && n >= 2) {
                    job.out = out_row + ox0 * ch;
                    if (s == 1) {
                        (n & 1 ? tinyml_dw3_dsp_s1t : tinyml_dw3_dsp_s1)(&job);
                    } else {
                        (n & 1 ? tinyml_dw3_dsp_s2t : tinyml_dw3_dsp_s2)(&job);
                    }
                    g0 = ch & ~3;
                }
#else
                (void)full;
#endif
                for (; g0 < ch; g0 += 4) {
                    const int32_t gn = ch - g0 < 4 ? ch - g0 : 4;
                    dw3_fill_c(buf, src, nf, g0, gn);
                    dw3_rows_c(buf, out_row + ox0 * ch + g0, p->packed + 6 * g0, ch, gn, s, n, p->act_min,
                               p->act_max);
                }
            }
        }
    }
    return 1;
}

/* The layers the generator did not pack; a separate frame from dw3_run's. */
static TINYML_DW_NOINLINE int dw_generic(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output)
{
    const int32_t taps = p->k_h * p->k_w;
    dw_quant q;
    if (p->depth_multiplier != 1 || taps > 1024) {
        return 0;
    }
    q.bias = p->bias;
    q.mult = p->multiplier;
    q.shift = p->shift;
    q.qstep = p->per_channel ? 1 : 0;
    q.out_offset = p->out_offset;
    q.act_min = p->act_min;
    q.act_max = p->act_max;
    if (!tinyml_requant_plan(p->bias, p->shift, p->in_c, p->per_channel, taps * 255 * 128)) {
        /* the general requantization (a multiplier > 1, huge biases): rare, so the reference
         * loop rather than a third copy of this code (flash) */
        return 0;
    }
    if (p->act_min <= -128 && p->act_max >= 127) {
        dw_body(p, q, input, output, 2);
    } else {
        dw_body(p, q, input, output, 1);
    }
    return 1;
}

int tinyml_depthwise_conv_fast(const tinyml_depthwise_conv_params *p, const int8_t *input, int8_t *output)
{
    if (p->packed != NULL) {
        return dw3_run(p, input, output);
    }
    return dw_generic(p, input, output);
}
#else
typedef int tinyml_depthwise_fast_unused; /* ISO C: a translation unit is not empty */
#endif
