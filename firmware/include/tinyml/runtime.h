/* tinyml device runtime: the serial protocol (docs/protocol.md), host-driven inference,
 * streaming on stored samples and the MLPerf Tiny DUT commands. Uses only port.h and model.h. */
#ifndef TINYML_RUNTIME_H
#define TINYML_RUNTIME_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

void tinyml_runtime_init(void); /* initialises the model and prints the hello banner */
void tinyml_runtime_poll(void); /* handles received bytes and due stream samples; never blocks long */
/* 1 while a stream sample is due before the port's idle tick would wake the core again: the
 * main loop then polls instead of sleeping (a WFI per sample capped streams at 100/s). */
int tinyml_runtime_busy(void);

/* Sensor hook for user code: fill `input` (TINYML_INPUT_BYTES) for stream sample `index` and
 * return 1, or return 0 to use the stored samples (samples.h). Weak default returns 0. */
int tinyml_user_sample(uint32_t index, void *input);

#ifdef __cplusplus
}
#endif

#endif /* TINYML_RUNTIME_H */
