/* tinyml port for Arduino cores (AVR Uno, mbed Nano 33 BLE, ESP32): the UART is `Serial`, whose
 * core driver already receives by interrupt into a ring buffer. */
#include <Arduino.h>

#include "tinyml/port.h"

#if defined(ARDUINO_ARCH_MBED) || defined(ARDUINO_ARCH_NRF52840)
/* Cortex-M4: the DWT cycle counter (enabled in tinyml_port_init). */
#define TM_DEMCR (*(volatile uint32_t *)0xE000EDFCu)
#define TM_DWT_CTRL (*(volatile uint32_t *)0xE0001000u)
#define TM_DWT_CYCCNT (*(volatile uint32_t *)0xE0001004u)
#define TM_HAVE_DWT 1
#endif

extern "C" void tinyml_port_init(uint32_t baud)
{
    Serial.begin(baud);
#if defined(ARDUINO_ARCH_MBED)
    /* Native USB CDC: wait (bounded) for the host to open the port, so the banner is not lost. */
    for (uint32_t t0 = millis(); !Serial && millis() - t0 < 3000u;) {
    }
#endif
#if defined(TM_HAVE_DWT)
    TM_DEMCR |= 1u << 24;
    TM_DWT_CYCCNT = 0u;
    TM_DWT_CTRL |= 1u;
#endif
}

extern "C" void tinyml_port_write(const uint8_t *buf, size_t n) { Serial.write(buf, n); }

extern "C" int tinyml_port_read(void) { return Serial.read(); }

extern "C" void tinyml_port_idle(void)
{
#if defined(ESP32)
    delay(1); /* lets the idle task feed the watchdog */
#endif
}

extern "C" uint32_t tinyml_port_micros(void) { return (uint32_t)micros(); }

extern "C" uint32_t tinyml_port_cycles(void)
{
#if defined(ESP32)
    return (uint32_t)ESP.getCycleCount();
#elif defined(TM_HAVE_DWT)
    return TM_DWT_CYCCNT;
#else
    return 0u;
#endif
}
