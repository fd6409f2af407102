/* tinyml serial protocol, version 1 (docs/protocol.md): frame constants and the small
 * encoding helpers shared by the runtime. No malloc, no stdio, no float formatting. */
#ifndef TINYML_PROTOCOL_H
#define TINYML_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TINYML_PROTOCOL_VERSION 1

/* A frame is one text line: '@' TYPE SEQ(4 hex) PAYLOAD(base64) '*' CRC(4 hex) '\r'? '\n'.
 * The CRC-16/CCITT-FALSE covers TYPE, SEQ and PAYLOAD exactly as sent. */
#define TP_SYNC '@'
#define TP_CRC_SEP '*'

/* Frame types, host -> device */
#define TP_T_HELLO 'H'  /* empty payload: ask for the hello */
#define TP_T_INFER 'I'  /* payload: the input tensor */
#define TP_T_INFER_BIN 'J' /* the same with the input tensor as raw bytes (exactly TINYML_INPUT_BYTES) */
#define TP_T_STREAM 'S' /* payload: u32 period_us, u32 count (0 = until stopped) */
#define TP_T_STOP 'X'   /* empty payload: stop streaming */
#define TP_T_ECHO 'E'   /* payload: u32 n; the device then echoes the next n raw bytes */
#define TP_T_PROFILE 'P' /* empty payload: per-layer cycles of the last inference (reply 'L') */
/* Frame types, device -> host */
#define TP_T_RESULT 'R' /* u16 req, u32 us, u32 cycles, output tensor */
#define TP_T_SAMPLE 'T' /* u32 index, u16 sample, u32 us, u32 cycles, output tensor */
#define TP_T_ACK 'A'    /* u16 req, u8 code, ASCII message */
#define TP_T_LAYERS 'L' /* u16 req, u16 n, n x u32 cycles of layer i in the last inference */
/* 'H' from the device: ASCII key=value;... (see docs/protocol.md) */

/* Codes in 'A' frames */
#define TP_OK 0
#define TP_E_CRC 1
#define TP_E_LENGTH 2
#define TP_E_ENCODING 3
#define TP_E_OVERLONG 4
#define TP_E_TYPE 5
#define TP_E_GARBAGE 6
#define TP_E_INVOKE 7
#define TP_E_ARG 8

#define TP_NO_REQ 0xFFFFu /* 'A' frames that answer no request (garbage on the line) */

/* Strings that live in flash on AVR (PROGMEM) and in .rodata elsewhere. */
#if defined(__AVR__)
#include <avr/pgmspace.h>
#define TP_STR(s) PSTR(s)
#define TP_FLASH PROGMEM
#else
#define TP_STR(s) (s)
#define TP_FLASH
#endif

uint16_t tp_crc16(uint16_t crc, uint8_t byte); /* start with 0xFFFF */
int tp_b64_value(uint8_t c);                   /* 0..63, or -1 if c is not in the alphabet */
int tp_hex_value(uint8_t c);                   /* 0..15, or -1 */

/* Buffered text output (flushed by tp_flush, by a full buffer and at the end of a frame). */
void tp_putc(char c);
void tp_puts_P(const char *flash_str); /* a TP_STR() string */
void tp_put_u32(uint32_t v);           /* decimal */
void tp_put_i32(int32_t v);
void tp_put_milli(int32_t milli);      /* -1234 -> "-1.234" (the MLPerf %0.3f without float printf) */
void tp_flush(void);

/* Frame output: begin, payload bytes (base64 on the fly), end (CRC and CRLF, flushed). */
void tp_frame_begin(char type, uint16_t seq);
void tp_frame_byte(uint8_t b);
void tp_frame_bytes(const uint8_t *p, size_t n);
void tp_frame_u16(uint16_t v); /* little endian */
void tp_frame_u32(uint32_t v);
void tp_frame_text_P(const char *flash_str);
void tp_frame_text(const char *ram_str);
void tp_frame_dec(int32_t v);
void tp_frame_hex32(uint32_t v);
void tp_frame_end(void);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_PROTOCOL_H */
