/* Encoding helpers of the tinyml serial protocol (docs/protocol.md): CRC-16, base64, buffered
 * text output and the frame writer. Integers are formatted by hand so no printf is linked. */
#include "tinyml/protocol.h"

#include "tinyml/port.h"

#ifndef TP_TX_BUFFER
#if defined(__AVR__)
#define TP_TX_BUFFER 16 /* 2 KB of SRAM on an Uno: keep it tight */
#else
#define TP_TX_BUFFER 128 /* fewer port writes = higher throughput */
#endif
#endif

static uint8_t tx_buf[TP_TX_BUFFER];
static uint8_t tx_len;

/* Frame writer state: one frame at a time. */
static uint16_t fw_crc;
static uint8_t fw_grp[3];
static uint8_t fw_n;

static const char b64_alphabet[] TP_FLASH =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char hex_digits[] TP_FLASH = "0123456789abcdef";

#if defined(__AVR__)
#define TP_READ_FLASH(p) ((char)pgm_read_byte(p))
#else
#define TP_READ_FLASH(p) (*(p))
#endif

uint16_t tp_crc16(uint16_t crc, uint8_t byte) {
    uint8_t i;
    crc ^= (uint16_t)((uint16_t)byte << 8);
    for (i = 0; i < 8; i++) {
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

int tp_b64_value(uint8_t c) {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

int tp_hex_value(uint8_t c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

void tp_flush(void) {
    if (tx_len) {
        tinyml_port_write(tx_buf, tx_len);
        tx_len = 0;
    }
}

void tp_putc(char c) {
    tx_buf[tx_len++] = (uint8_t)c;
    if (tx_len == TP_TX_BUFFER) tp_flush();
}

void tp_puts_P(const char *s) {
    char c;
    while ((c = TP_READ_FLASH(s)) != 0) {
        tp_putc(c);
        s++;
    }
}

/* Writes the decimal digits of v into the end of buf[11]; returns the first digit. */
static char *format_u32(uint32_t v, char *buf) {
    char *p = buf + 11;
    *--p = 0;
    do {
        *--p = (char)('0' + (v % 10u));
        v /= 10u;
    } while (v);
    return p;
}

void tp_put_u32(uint32_t v) {
    char buf[11];
    char *p = format_u32(v, buf);
    while (*p) tp_putc(*p++);
}

void tp_put_i32(int32_t v) {
    if (v < 0) {
        tp_putc('-');
        tp_put_u32((uint32_t)0 - (uint32_t)v);
    } else {
        tp_put_u32((uint32_t)v);
    }
}

void tp_put_milli(int32_t milli) {
    uint32_t m;
    uint32_t frac;
    if (milli < 0) {
        tp_putc('-');
        m = (uint32_t)0 - (uint32_t)milli;
    } else {
        m = (uint32_t)milli;
    }
    tp_put_u32(m / 1000u);
    tp_putc('.');
    frac = m % 1000u;
    tp_putc((char)('0' + frac / 100u));
    tp_putc((char)('0' + (frac / 10u) % 10u));
    tp_putc((char)('0' + frac % 10u));
}

/* A character inside the CRC-covered part of a frame. */
static void frame_char(char c) {
    fw_crc = tp_crc16(fw_crc, (uint8_t)c);
    tp_putc(c);
}

static void frame_hex16(uint16_t v) {
    int shift;
    for (shift = 12; shift >= 0; shift -= 4) frame_char(TP_READ_FLASH(&hex_digits[(v >> shift) & 0xFu]));
}

void tp_frame_begin(char type, uint16_t seq) {
    tp_putc(TP_SYNC);
    fw_crc = 0xFFFFu;
    fw_n = 0;
    frame_char(type);
    frame_hex16(seq);
}

static void b64_group(uint8_t n) {
    uint32_t v = ((uint32_t)fw_grp[0] << 16) | ((uint32_t)(n > 1 ? fw_grp[1] : 0) << 8) |
                 (uint32_t)(n > 2 ? fw_grp[2] : 0);
    frame_char(TP_READ_FLASH(&b64_alphabet[(v >> 18) & 63u]));
    frame_char(TP_READ_FLASH(&b64_alphabet[(v >> 12) & 63u]));
    frame_char(n > 1 ? TP_READ_FLASH(&b64_alphabet[(v >> 6) & 63u]) : '=');
    frame_char(n > 2 ? TP_READ_FLASH(&b64_alphabet[v & 63u]) : '=');
}

void tp_frame_byte(uint8_t b) {
    fw_grp[fw_n++] = b;
    if (fw_n == 3) {
        b64_group(3);
        fw_n = 0;
    }
}

void tp_frame_bytes(const uint8_t *p, size_t n) {
    while (n--) tp_frame_byte(*p++);
}

void tp_frame_u16(uint16_t v) {
    tp_frame_byte((uint8_t)(v & 0xFFu));
    tp_frame_byte((uint8_t)(v >> 8));
}

void tp_frame_u32(uint32_t v) {
    uint8_t i;
    for (i = 0; i < 4; i++) tp_frame_byte((uint8_t)((v >> (8u * i)) & 0xFFu));
}

void tp_frame_text_P(const char *s) {
    char c;
    while ((c = TP_READ_FLASH(s)) != 0) {
        tp_frame_byte((uint8_t)c);
        s++;
    }
}

void tp_frame_text(const char *s) {
    while (*s) tp_frame_byte((uint8_t)*s++);
}

void tp_frame_dec(int32_t v) {
    char buf[11];
    char *p;
    if (v < 0) {
        tp_frame_byte('-');
        p = format_u32((uint32_t)0 - (uint32_t)v, buf);
    } else {
        p = format_u32((uint32_t)v, buf);
    }
    tp_frame_text(p);
}

void tp_frame_hex32(uint32_t v) {
    int shift;
    for (shift = 28; shift >= 0; shift -= 4) tp_frame_byte((uint8_t)TP_READ_FLASH(&hex_digits[(v >> shift) & 0xFu]));
}

void tp_frame_end(void) {
    int shift;
    uint16_t crc;
    if (fw_n) b64_group(fw_n);
    fw_n = 0;
    crc = fw_crc;
    tp_putc(TP_CRC_SEP);
    for (shift = 12; shift >= 0; shift -= 4) tp_putc(TP_READ_FLASH(&hex_digits[(crc >> shift) & 0xFu]));
    tp_putc('\r');
    tp_putc('\n');
    tp_flush();
}
