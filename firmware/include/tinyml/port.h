/* tinyml board port API (docs/engine-api.md): one implementation per board family under
 * firmware/ports/. The runtime (firmware/src/runtime.c) uses nothing else from the board. */
#ifndef TINYML_PORT_H
#define TINYML_PORT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void     tinyml_port_init(uint32_t baud);
void     tinyml_port_write(const uint8_t *buf, size_t n);  /* blocking until queued/sent */
int      tinyml_port_read(void);      /* next received byte 0..255, or -1 if none (non-blocking) */
void     tinyml_port_idle(void);      /* sleep until an interrupt (WFI); may return spuriously */
uint32_t tinyml_port_micros(void);    /* free-running device clock in microseconds */
uint32_t tinyml_port_cycles(void);    /* cycle (or instruction) counter; 0 if none */

#ifdef __cplusplus
}
#endif

#endif /* TINYML_PORT_H */
