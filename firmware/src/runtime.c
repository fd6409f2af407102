/* tinyml device runtime (docs/protocol.md, version 1).
 *
 * One receive state machine serves two dialects on the same line:
 *  - tinyml frames: '@' ... '\n' (checked by CRC, answered with frames);
 *  - MLPerf Tiny / EEMBC DUT commands: ASCII ending in '%' (answered with "m-..." lines and
 *    a final "m-ready", exactly as the MLPerf Tiny runner parses them).
 * Frames are decoded on the fly into the input buffer, so RAM use is one input tensor, one
 * output tensor and the 80-character MLPerf command buffer. Nothing is dropped silently: every
 * byte that is neither a valid frame nor a command is answered with an error. */
#include "tinyml/runtime.h"

#include <string.h>

#include "model.h"
#include "samples.h"
#include "tinyml/port.h"
#include "tinyml/protocol.h"

#ifndef TINYML_BOARD
#define TINYML_BOARD "unknown"
#endif
#ifndef TINYML_MLPERF_MODEL
#define TINYML_MLPERF_MODEL TINYML_MODEL_NAME
#endif
#ifndef TINYML_INT8
#define TINYML_INT8 0
#endif
#ifndef TINYML_FLOAT32
#define TINYML_FLOAT32 1
#endif
#ifndef TINYML_NUM_SAMPLES
#define TINYML_NUM_SAMPLES 0
#endif

#define CMD_SIZE 80  /* the MLPerf reference command buffer */
#define CTL_SIZE 8   /* payload of control frames */

enum { RX_TEXT, RX_FRAME };
enum { F_TYPE, F_SEQ, F_PAYLOAD, F_CRC, F_DONE };

static uint8_t input_buf[TINYML_INPUT_BYTES];
static uint8_t output_buf[TINYML_OUTPUT_BYTES];
static uint8_t ctl_buf[CTL_SIZE];
static char cmd_buf[CMD_SIZE + 1];

static struct {
    uint16_t tx_seq;        /* sequence number of the next frame we send */
    uint8_t rx_mode;
    /* text (MLPerf) side */
    uint8_t cmd_len;
    uint8_t cmd_overflow;
    uint8_t cmd_binary;
    uint16_t cmd_count;     /* bytes since the last terminator (for the garbage report) */
    /* frame side */
    uint8_t f_state;
    uint8_t f_hdr;          /* seq / crc hex digits seen */
    char f_type;
    uint8_t f_err;
    uint16_t f_seq;
    uint16_t f_crc;         /* computed */
    uint16_t f_rx_crc;      /* received */
    uint8_t f_quad[4];
    uint8_t f_qn;
    uint8_t f_pad;
    uint16_t f_len;         /* decoded payload bytes */
    uint8_t *f_dest;
    uint16_t f_cap;
    /* MLPerf db buffer (shares input_buf) */
    uint16_t db_size;
    uint16_t db_pos;
    uint8_t have_output;
    /* streaming */
    uint8_t streaming;
    uint32_t stream_period;
    uint32_t stream_left;   /* 0 = unlimited */
    uint32_t stream_index;
    uint32_t stream_due;
    /* raw echo for the link throughput test */
    uint32_t echo_left;
    uint16_t echo_req;
    uint8_t echo_sink;
    uint32_t echo_last;
    uint8_t init_ok;
} rt;

#if defined(__GNUC__)
__attribute__((weak))
#endif
int tinyml_user_sample(uint32_t index, void *input) {
    (void)index;
    (void)input;
    return 0;
}

/* ---------------------------------------------------------------- replies */

static void ack(uint16_t req, uint8_t code, const char *flash_msg) {
    tp_frame_begin(TP_T_ACK, rt.tx_seq++);
    tp_frame_u16(req);
    tp_frame_byte(code);
    tp_frame_text_P(flash_msg);
}

static void ack_end(void) { tp_frame_end(); }

static void tensor_desc(int type, const int32_t *dims, int ndims, float scale, int32_t zp, uint32_t bytes) {
    union {
        float f;
        uint32_t u;
    } bits;
    int i;
    tp_frame_text_P(type == TINYML_FLOAT32 ? TP_STR("f32:") : TP_STR("i8:"));
    for (i = 0; i < ndims; i++) {
        if (i) tp_frame_byte('x');
        tp_frame_dec(dims[i]);
    }
    /* The scale as IEEE-754 bits: exact, and no float formatting on the device. */
    bits.f = scale;
    tp_frame_byte(':');
    tp_frame_hex32(bits.u);
    tp_frame_byte(':');
    tp_frame_dec(zp);
    tp_frame_byte(':');
    tp_frame_dec((int32_t)bytes);
}

static void send_hello(uint8_t boot, uint16_t req) {
    static const int32_t in_dims[] = TINYML_INPUT_DIMS;
    static const int32_t out_dims[] = TINYML_OUTPUT_DIMS;
    tp_frame_begin(TP_T_HELLO, rt.tx_seq++);
    tp_frame_text_P(TP_STR("proto="));
    tp_frame_dec(TINYML_PROTOCOL_VERSION);
#ifdef TINYML_MODEL_DYNAMIC
    /* the engine may run another model than it was built with (ESP32 model partition) */
    tp_frame_text_P(TP_STR(";model="));
    tp_frame_text(tinyml_model_name());
    tp_frame_text_P(TP_STR(";sha256="));
    tp_frame_text(tinyml_model_sha256());
    tp_frame_text_P(TP_STR(";model_src="));
    tp_frame_text(tinyml_model_source());
    tp_frame_text_P(TP_STR(";engine=" TINYML_ENGINE ";board=" TINYML_BOARD ";in="));
#else
    tp_frame_text_P(TP_STR(";model=" TINYML_MODEL_NAME ";sha256=" TINYML_MODEL_SHA256 ";engine=" TINYML_ENGINE
                           ";board=" TINYML_BOARD ";in="));
#endif
    tensor_desc(TINYML_INPUT_TYPE, in_dims, TINYML_INPUT_NDIMS, TINYML_INPUT_SCALE, TINYML_INPUT_ZERO_POINT,
                TINYML_INPUT_BYTES);
    tp_frame_text_P(TP_STR(";out="));
    tensor_desc(TINYML_OUTPUT_TYPE, out_dims, TINYML_OUTPUT_NDIMS, TINYML_OUTPUT_SCALE, TINYML_OUTPUT_ZERO_POINT,
                TINYML_OUTPUT_BYTES);
    tp_frame_text_P(TP_STR(";arena="));
    tp_frame_dec(TINYML_ARENA_BYTES);
    tp_frame_text_P(TP_STR(";layers="));
    tp_frame_dec(TINYML_NUM_LAYERS);
    tp_frame_text_P(TP_STR(";samples="));
    tp_frame_dec(TINYML_NUM_SAMPLES);
    tp_frame_text_P(TP_STR(";boot="));
    tp_frame_dec(boot);
    tp_frame_text_P(TP_STR(";req="));
    tp_frame_dec(req);
    tp_frame_text_P(TP_STR(";uptime_us="));
    tp_frame_dec((int32_t)(tinyml_port_micros() & 0x7FFFFFFFu));
    tp_frame_text_P(TP_STR(";init="));
    tp_frame_dec(rt.init_ok);
    tp_frame_text_P(TP_STR(";bin=1")); /* understands 'J' (binary input) frames */
#ifdef TINYML_RX_BUFFER
    /* the port's receive buffer: how many request bytes the host may send ahead */
    tp_frame_text_P(TP_STR(";rx="));
    tp_frame_dec(TINYML_RX_BUFFER);
#endif
    tp_frame_end();
}

#if !defined(__AVR__)
/* Per-layer profile ('P' frame): the aot model calls tinyml_layer_hook(i) before layer i and with
 * i == TINYML_NUM_LAYERS after the last (a weak reference in model.c); the cycle counter at each
 * call is kept, so layer i took layer_t[i + 1] - layer_t[i]. Not on AVR (RAM). */
#define TINYML_LAYER_PROFILE 1
static uint32_t layer_t[TINYML_NUM_LAYERS + 1];
static uint16_t layer_calls;

void tinyml_layer_hook(int i);
void tinyml_layer_hook(int i) {
    if (i >= 0 && i <= TINYML_NUM_LAYERS) {
        layer_t[i] = tinyml_port_cycles();
        layer_calls++;
    }
}
#endif

/* Runs the model on `in`; fills output_buf and the elapsed device time. 0 on success. */
static int run_model(const void *in, uint32_t *us, uint32_t *cycles) {
#ifdef TINYML_LAYER_PROFILE
    layer_calls = 0;
#endif
    uint32_t t0 = tinyml_port_micros();
    uint32_t c0 = tinyml_port_cycles();
    int rc = tinyml_invoke(in, output_buf);
    *cycles = tinyml_port_cycles() - c0;
    *us = tinyml_port_micros() - t0;
    rt.have_output = rc == 0;
    return rc;
}

/* ---------------------------------------------------------------- frames */

static void frame_reset(void) {
    rt.f_type = 0;
    rt.f_state = F_TYPE;
    rt.f_hdr = 0;
    rt.f_err = TP_OK;
    rt.f_seq = 0;
    rt.f_crc = 0xFFFFu;
    rt.f_rx_crc = 0;
    rt.f_qn = 0;
    rt.f_pad = 0;
    rt.f_len = 0;
    rt.f_dest = ctl_buf;
    rt.f_cap = CTL_SIZE;
}

static uint32_t ctl_u32(uint8_t at) {
    return (uint32_t)ctl_buf[at] | ((uint32_t)ctl_buf[at + 1] << 8) | ((uint32_t)ctl_buf[at + 2] << 16) |
           ((uint32_t)ctl_buf[at + 3] << 24);
}

static void dispatch_frame(void) {
    uint16_t req = rt.f_seq;
    uint32_t us, cycles;
    switch (rt.f_type) {
    case TP_T_HELLO:
        send_hello(0, req);
        return;
    case TP_T_INFER:
    case TP_T_INFER_BIN:
        if (rt.f_len != TINYML_INPUT_BYTES) {
            ack(req, TP_E_LENGTH, TP_STR("input length: expected "));
            tp_frame_dec(TINYML_INPUT_BYTES);
            tp_frame_text_P(TP_STR(" bytes, got "));
            tp_frame_dec(rt.f_len);
            ack_end();
            return;
        }
        if (run_model(input_buf, &us, &cycles) != 0) {
            ack(req, TP_E_INVOKE, TP_STR("tinyml_invoke failed"));
            ack_end();
            return;
        }
        tp_frame_begin(TP_T_RESULT, rt.tx_seq++);
        tp_frame_u16(req);
        tp_frame_u32(us);
        tp_frame_u32(cycles);
        tp_frame_bytes(output_buf, TINYML_OUTPUT_BYTES);
        tp_frame_end();
        return;
    case TP_T_STREAM:
        if (rt.f_len != 8) {
            ack(req, TP_E_ARG, TP_STR("stream: payload is u32 period_us, u32 count"));
            ack_end();
            return;
        }
        rt.stream_period = ctl_u32(0);
        rt.stream_left = ctl_u32(4);
        rt.stream_index = 0;
        rt.stream_due = tinyml_port_micros();
        rt.streaming = 1;
        ack(req, TP_OK, TP_STR("stream started"));
        ack_end();
        return;
    case TP_T_STOP:
        rt.streaming = 0;
        ack(req, TP_OK, TP_STR("stream stopped after "));
        tp_frame_dec((int32_t)rt.stream_index);
        ack_end();
        return;
    case TP_T_PROFILE: {
        /* per-layer cycles of the last inference; n = 0 if it ran no layer hooks (tflm engine,
         * AVR, or no inference yet) */
        uint16_t n = 0, i;
#ifdef TINYML_LAYER_PROFILE
        if (rt.have_output && layer_calls == TINYML_NUM_LAYERS + 1) {
            n = TINYML_NUM_LAYERS;
        }
#endif
        tp_frame_begin(TP_T_LAYERS, rt.tx_seq++);
        tp_frame_u16(req);
        tp_frame_u16(n);
        for (i = 0; i < n; ++i) {
#ifdef TINYML_LAYER_PROFILE
            tp_frame_u32(layer_t[i + 1] - layer_t[i]);
#endif
        }
        tp_frame_end();
        return;
    }
    case TP_T_ECHO:
        if (rt.f_len != 4 && rt.f_len != 5) {
            ack(req, TP_E_ARG, TP_STR("echo: payload is u32 byte count [, u8 mode]"));
            ack_end();
            return;
        }
        /* mode 0: echo every byte back; mode 1: swallow them and say when all arrived */
        rt.echo_sink = rt.f_len == 5 && ctl_buf[4] == 1;
        rt.echo_req = req;
        ack(req, TP_OK, rt.echo_sink ? TP_STR("sink") : TP_STR("echo"));
        ack_end();
        rt.echo_left = ctl_u32(0);
        rt.echo_last = tinyml_port_micros();
        return;
    default:
        ack(req, TP_E_TYPE, TP_STR("unknown frame type"));
        ack_end();
        return;
    }
}

static void frame_error(void) {
    uint16_t req = rt.f_hdr >= 4 || rt.f_state > F_SEQ ? rt.f_seq : TP_NO_REQ;
    switch (rt.f_err) {
    case TP_E_CRC:
        ack(req, TP_E_CRC, TP_STR("frame CRC mismatch"));
        break;
    case TP_E_OVERLONG:
        ack(req, TP_E_OVERLONG, TP_STR("frame payload too long for its type"));
        break;
    default:
        ack(req, TP_E_ENCODING, TP_STR("malformed or truncated frame"));
        break;
    }
    ack_end();
}

static void frame_end_of_line(void) {
    if (rt.f_err == TP_OK && (rt.f_state != F_DONE || rt.f_qn != 0)) rt.f_err = TP_E_ENCODING;
    if (rt.f_err == TP_OK && rt.f_rx_crc != rt.f_crc) rt.f_err = TP_E_CRC;
    if (rt.f_err == TP_OK && rt.f_type != TP_T_INFER && rt.f_type != TP_T_INFER_BIN && rt.f_len > rt.f_cap)
        rt.f_err = TP_E_OVERLONG;
    if (rt.f_err != TP_OK)
        frame_error();
    else
        dispatch_frame();
    rt.rx_mode = RX_TEXT;
}

static void frame_store(uint8_t b) {
    if (rt.f_len < rt.f_cap) rt.f_dest[rt.f_len] = b;
    if (rt.f_len < 0xFFFFu) rt.f_len++;
}

static void frame_payload_char(uint8_t c) {
    int v;
    if (c == '=') {
        /* padding: only in the last two places of a group */
        if (rt.f_qn < 2) {
            rt.f_err = TP_E_ENCODING;
            return;
        }
        rt.f_pad++;
        v = 0;
    } else {
        v = tp_b64_value(c);
        if (v < 0 || rt.f_pad) {
            rt.f_err = TP_E_ENCODING;
            return;
        }
    }
    rt.f_quad[rt.f_qn++] = (uint8_t)v;
    if (rt.f_qn == 4) {
        uint32_t g = ((uint32_t)rt.f_quad[0] << 18) | ((uint32_t)rt.f_quad[1] << 12) |
                     ((uint32_t)rt.f_quad[2] << 6) | rt.f_quad[3];
        frame_store((uint8_t)(g >> 16));
        if (rt.f_pad < 2) frame_store((uint8_t)(g >> 8));
        if (rt.f_pad < 1) frame_store((uint8_t)g);
        rt.f_qn = 0;
        if (rt.f_pad) rt.f_state = F_PAYLOAD + 10; /* padding ends the payload: only '*' may follow */
    }
}

static void frame_char(uint8_t c) {
    int h;
    if (rt.f_err != TP_OK) return; /* skip to the end of the line, then report */
    switch (rt.f_state) {
    case F_TYPE:
        rt.f_type = (char)c;
        rt.f_crc = tp_crc16(rt.f_crc, c);
        if (c == TP_T_INFER || c == TP_T_INFER_BIN) {
            rt.f_dest = input_buf;
            rt.f_cap = TINYML_INPUT_BYTES;
            rt.db_size = rt.db_pos = 0; /* the MLPerf db buffer is overwritten */
        }
        rt.f_state = F_SEQ;
        return;
    case F_SEQ:
        h = tp_hex_value(c);
        if (h < 0) {
            rt.f_err = TP_E_ENCODING;
            return;
        }
        rt.f_crc = tp_crc16(rt.f_crc, c);
        rt.f_seq = (uint16_t)((rt.f_seq << 4) | (uint16_t)h);
        if (++rt.f_hdr == 4) rt.f_state = F_PAYLOAD;
        return;
    case F_PAYLOAD:
    case F_PAYLOAD + 10:
        if (c == TP_CRC_SEP) {
            rt.f_state = F_CRC;
            rt.f_hdr = 0;
            return;
        }
        if (rt.f_state != F_PAYLOAD) {
            rt.f_err = TP_E_ENCODING;
            return;
        }
        rt.f_crc = tp_crc16(rt.f_crc, c);
        frame_payload_char(c);
        return;
    case F_CRC:
        h = tp_hex_value(c);
        if (h < 0) {
            rt.f_err = TP_E_ENCODING;
            return;
        }
        rt.f_rx_crc = (uint16_t)((rt.f_rx_crc << 4) | (uint16_t)h);
        if (++rt.f_hdr == 4) rt.f_state = F_DONE;
        return;
    default: /* anything after the CRC */
        rt.f_err = TP_E_ENCODING;
        return;
    }
}

/* ---------------------------------------------------------------- MLPerf Tiny DUT commands */

static void ee_line_P(const char *s) {
    tp_puts_P(s);
    tp_puts_P(TP_STR("\r\n"));
}

static void ee_lap(void) {
    tp_puts_P(TP_STR("m-lap-us-"));
    tp_put_u32(tinyml_port_micros());
    tp_puts_P(TP_STR("\r\n"));
}

static void ee_results(void) {
    uint16_t i;
    tp_puts_P(TP_STR("m-results-["));
    for (i = 0; i < TINYML_OUTPUT_ELEMENTS; i++) {
        float v;
        int32_t milli;
        if (i) tp_putc(',');
#if TINYML_OUTPUT_TYPE == TINYML_FLOAT32
        memcpy(&v, output_buf + 4u * i, sizeof v);
#else
        v = (float)((int32_t)(int8_t)output_buf[i] - (int32_t)(TINYML_OUTPUT_ZERO_POINT)) * (TINYML_OUTPUT_SCALE);
#endif
        /* %0.3f by integer formatting: round half away from zero, clamp to what fits */
        if (v > 2000000.0f) v = 2000000.0f;
        if (v < -2000000.0f) v = -2000000.0f;
        milli = (int32_t)(v * 1000.0f + (v >= 0.0f ? 0.5f : -0.5f));
        tp_put_milli(milli);
    }
    tp_puts_P(TP_STR("]\r\n"));
}

/* Strict decimal parse of a token; -1 if it is not a number (atoi would say 0). */
static int32_t parse_uint(const char *s) {
    int32_t v = 0;
    if (!*s) return -1;
    while (*s) {
        if (*s < '0' || *s > '9' || v > 100000000) return -1;
        v = v * 10 + (*s++ - '0');
    }
    return v;
}

static void ee_error_P(const char *msg) {
    tp_puts_P(TP_STR("e-["));
    tp_puts_P(msg);
    tp_puts_P(TP_STR("]\r\n"));
}

static void ee_db(char *arg, char *rest) {
    if (!arg) {
        ee_error_P(TP_STR("Command 'db' requires a subcommand"));
    } else if (strcmp(arg, "load") == 0) {
        int32_t n = rest ? parse_uint(rest) : -1;
        if (n <= 0 || n > TINYML_INPUT_BYTES) {
            tp_puts_P(TP_STR("e-[db load needs 1.."));
            tp_put_u32(TINYML_INPUT_BYTES);
            tp_puts_P(TP_STR(" bytes]\r\n"));
            return;
        }
        rt.db_size = (uint16_t)n;
        rt.db_pos = 0;
        tp_puts_P(TP_STR("m-[Expecting "));
        tp_put_u32((uint32_t)n);
        tp_puts_P(TP_STR(" bytes]\r\n"));
    } else if (strcmp(arg, "print") == 0) {
        uint16_t i;
        for (i = 0; i < rt.db_pos; i++) {
            int h = input_buf[i];
            if (i % 8u == 0) tp_puts_P(TP_STR("m-buffer-"));
            tp_putc("0123456789abcdef"[h >> 4]);
            tp_putc("0123456789abcdef"[h & 15]);
            tp_puts_P((i + 1u) % 8u == 0 || i + 1u == rt.db_pos ? TP_STR("\r\n") : TP_STR("-"));
        }
    } else {
        size_t n = strlen(arg);
        size_t i;
        if (rt.db_size == 0) {
            ee_error_P(TP_STR("db: no 'db load N' before the data"));
            return;
        }
        if (n & 1u) {
            ee_error_P(TP_STR("Insufficent number of hex digits"));
            return;
        }
        for (i = 0; i < n; i += 2) {
            int hi = tp_hex_value((uint8_t)arg[i]);
            int lo = tp_hex_value((uint8_t)arg[i + 1]);
            if (hi < 0 || lo < 0) {
                ee_error_P(TP_STR("Invalid hex digit"));
                return;
            }
            if (rt.db_pos >= rt.db_size) {
                ee_error_P(TP_STR("db: more bytes than 'db load' announced"));
                return;
            }
            input_buf[rt.db_pos++] = (uint8_t)((hi << 4) | lo);
            if (rt.db_pos == rt.db_size) {
                ee_line_P(TP_STR("m-load-done"));
                return;
            }
        }
    }
}

static void ee_infer(char *a, char *b) {
    int32_t n = 1, w = 10; /* the reference defaults */
    uint32_t us, cycles;
    if (a && (n = parse_uint(a)) <= 0) {
        ee_error_P(TP_STR("Inference iterations must be >0"));
        return;
    }
    if (b && (w = parse_uint(b)) < 0) {
        ee_error_P(TP_STR("Inference warmup must be >=0"));
        return;
    }
    if (rt.db_pos != TINYML_INPUT_BYTES) {
        tp_puts_P(TP_STR("e-[db buffer holds "));
        tp_put_u32(rt.db_pos);
        tp_puts_P(TP_STR(" of "));
        tp_put_u32(TINYML_INPUT_BYTES);
        tp_puts_P(TP_STR(" input bytes]\r\n"));
        return;
    }
    tp_puts_P(TP_STR("m-warmup-start-"));
    tp_put_u32((uint32_t)w);
    tp_puts_P(TP_STR("\r\n"));
    tp_flush();
    while (w-- > 0) run_model(input_buf, &us, &cycles);
    ee_line_P(TP_STR("m-warmup-done"));
    tp_puts_P(TP_STR("m-infer-start-"));
    tp_put_u32((uint32_t)n);
    tp_puts_P(TP_STR("\r\n"));
    ee_lap();
    tp_flush(); /* the lap line must leave before the timed loop */
    while (n-- > 0) {
        if (run_model(input_buf, &us, &cycles) != 0) {
            ee_error_P(TP_STR("tinyml_invoke failed"));
            return;
        }
    }
    ee_lap();
    ee_line_P(TP_STR("m-infer-done"));
    ee_results();
}

static void ee_command(void) {
    char *tok[4] = {0, 0, 0, 0};
    uint8_t nt = 0;
    char *p = cmd_buf;
    if (rt.cmd_overflow) {
        ee_error_P(TP_STR("command too long (max 80 characters)"));
    } else if (rt.cmd_binary) {
        ee_error_P(TP_STR("command holds non-printable bytes"));
    } else {
        cmd_buf[rt.cmd_len] = 0;
        while (*p && nt < 4) {
            while (*p == ' ') *p++ = 0;
            if (!*p) break;
            tok[nt++] = p;
            while (*p && *p != ' ') p++;
        }
        while (*p == ' ') *p++ = 0;
        if (*p) {
            ee_error_P(TP_STR("too many arguments"));
        } else if (!tok[0]) {
            ee_error_P(TP_STR("empty command"));
        } else if (strcmp(tok[0], "name") == 0) {
            ee_line_P(TP_STR("m-name-dut-[tinyml]"));
        } else if (strcmp(tok[0], "profile") == 0) {
            ee_line_P(TP_STR("m-profile-[ULPMark for tinyML Firmware V0.0.1]"));
            ee_line_P(TP_STR("m-model-[" TINYML_MLPERF_MODEL "]"));
        } else if (strcmp(tok[0], "timestamp") == 0) {
            ee_lap();
        } else if (strcmp(tok[0], "help") == 0) {
            ee_line_P(TP_STR("tinyml: name profile timestamp db load N|db HEX|db print infer N W results; "
                             "frames @...: docs/protocol.md"));
        } else if (strcmp(tok[0], "db") == 0) {
            ee_db(tok[1], tok[2]);
        } else if (strcmp(tok[0], "infer") == 0) {
            ee_infer(tok[1], tok[2]);
        } else if (strcmp(tok[0], "results") == 0) {
            if (rt.have_output)
                ee_results();
            else
                ee_error_P(TP_STR("no results yet"));
        } else {
            ee_error_P(TP_STR("unknown command"));
        }
    }
    ee_line_P(TP_STR("m-ready"));
    tp_flush();
}

static void text_reset(void) {
    rt.cmd_len = 0;
    rt.cmd_overflow = 0;
    rt.cmd_binary = 0;
    rt.cmd_count = 0;
}

static void report_garbage(void) {
    ack(TP_NO_REQ, TP_E_GARBAGE, TP_STR("discarded bytes outside a frame or command: "));
    tp_frame_dec(rt.cmd_count);
    ack_end();
}

static void rx_byte(uint8_t c) {
    if (rt.rx_mode == RX_FRAME) {
        if (rt.f_type == TP_T_INFER_BIN && rt.f_state == F_PAYLOAD && rt.f_err == TP_OK) {
            /* binary payload: exactly TINYML_INPUT_BYTES raw bytes, any value, then '*' */
            rt.f_crc = tp_crc16(rt.f_crc, c);
            frame_store(c);
            if (rt.f_len == TINYML_INPUT_BYTES) rt.f_state = F_PAYLOAD + 10;
            return;
        }
        if (c == '\n' || c == '\r') {
            frame_end_of_line();
        } else if (c == TP_SYNC) {
            rt.f_err = TP_E_ENCODING; /* a new frame started: the current one is truncated */
            frame_error();
            frame_reset();
        } else {
            frame_char(c);
        }
        return;
    }
    if (c == TP_SYNC) {
        if (rt.cmd_count) report_garbage();
        text_reset();
        frame_reset();
        rt.rx_mode = RX_FRAME;
    } else if (c == '%') {
        ee_command();
        text_reset();
    } else if (c == '\n' || c == '\r') {
        /* MLPerf hosts never send line ends: text before one is not a command */
        if (rt.cmd_count) report_garbage();
        text_reset();
    } else {
        if (rt.cmd_count < 0xFFFFu) rt.cmd_count++;
        if (c < 0x20 || c > 0x7e) rt.cmd_binary = 1;
        if (rt.cmd_len < CMD_SIZE)
            cmd_buf[rt.cmd_len++] = (char)c;
        else
            rt.cmd_overflow = 1;
    }
}

/* ---------------------------------------------------------------- streaming */

static void stream_step(void) {
    uint32_t now, us, cycles;
    uint16_t sample = 0;
    const void *in = input_buf;
    if (!rt.streaming || rt.rx_mode == RX_FRAME) return; /* never clobber a frame being received */
    now = tinyml_port_micros();
    if ((int32_t)(now - rt.stream_due) < 0) return;
    if (!tinyml_user_sample(rt.stream_index, input_buf)) {
#if TINYML_NUM_SAMPLES > 0
        sample = (uint16_t)(rt.stream_index % TINYML_NUM_SAMPLES);
#if defined(__AVR__)
        memcpy_P(input_buf, tinyml_samples[sample], TINYML_INPUT_BYTES);
#else
        in = tinyml_samples[sample];
#endif
#else
        memset(input_buf, 0, sizeof input_buf);
#endif
    }
    rt.db_size = rt.db_pos = 0;
    if (run_model(in, &us, &cycles) != 0) {
        ack(TP_NO_REQ, TP_E_INVOKE, TP_STR("tinyml_invoke failed while streaming"));
        ack_end();
        rt.streaming = 0;
        return;
    }
    tp_frame_begin(TP_T_SAMPLE, rt.tx_seq++);
    tp_frame_u32(rt.stream_index);
    tp_frame_u16(sample);
    tp_frame_u32(us);
    tp_frame_u32(cycles);
    tp_frame_bytes(output_buf, TINYML_OUTPUT_BYTES);
    tp_frame_end();
    rt.stream_index++;
    /* keep the rate; after a stall start again from now instead of bursting */
    rt.stream_due += rt.stream_period;
    if ((int32_t)(now - rt.stream_due) > (int32_t)rt.stream_period) rt.stream_due = now + rt.stream_period;
    if (rt.stream_left && --rt.stream_left == 0) rt.streaming = 0;
}

/* ---------------------------------------------------------------- API */

#ifndef TINYML_IDLE_TICK_US
#define TINYML_IDLE_TICK_US 10000 /* the ports' idle wake-up tick (cortex_m/clock.c: 100 Hz) */
#endif

int tinyml_runtime_busy(void) {
    return rt.streaming && (int32_t)(rt.stream_due - tinyml_port_micros()) < (int32_t)TINYML_IDLE_TICK_US;
}

void tinyml_runtime_init(void) {
    memset(&rt, 0, sizeof rt);
    rt.init_ok = tinyml_init() == 0;
    /* No "m-ready" at boot: a runner that opened the port before a reset would read it as the
     * reply to its first command and stay one reply behind for the whole run. */
    ee_line_P(TP_STR("m-timestamp-mode-performance"));
    send_hello(1, TP_NO_REQ);
    if (!rt.init_ok) {
        ack(TP_NO_REQ, TP_E_INVOKE, TP_STR("tinyml_init failed"));
#ifdef TINYML_MODEL_DYNAMIC
        if (tinyml_init_detail()[0]) { /* why, e.g. a refused model partition */
            tp_frame_text_P(TP_STR(": "));
            tp_frame_text(tinyml_init_detail());
        }
#endif
        ack_end();
    }
    ee_line_P(TP_STR("m-init-done"));
    tp_flush();
}

void tinyml_runtime_poll(void) {
    int c;
    while ((c = tinyml_port_read()) >= 0) {
        if (rt.echo_left) {
            rt.echo_last = tinyml_port_micros();
            if (!rt.echo_sink) tp_putc((char)c);
            if (--rt.echo_left == 0) {
                if (rt.echo_sink) {
                    ack(rt.echo_req, TP_OK, TP_STR("sink done"));
                    ack_end();
                }
                tp_flush();
            }
            continue;
        }
        rx_byte((uint8_t)c);
    }
    tp_flush();
    if (rt.echo_left && tinyml_port_micros() - rt.echo_last > 1000000u) {
        /* the host went away mid-test: do not swallow its next frames as test bytes */
        ack(rt.echo_req, TP_E_ARG, TP_STR("echo/sink abandoned after 1 s without bytes; left: "));
        tp_frame_dec((int32_t)rt.echo_left);
        ack_end();
        rt.echo_left = 0;
    }
    stream_step();
}
