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

#if defined(__AVR__)
#include <avr/interrupt.h>
#include <avr/sleep.h>
#endif

#if defined(TINYML_SIMAVR)
/* The virtual Uno (tinyml-simavr): its UART bridge reads this counter of bytes taken from
 * Serial's 64-byte receive buffer and never has more than 63 bytes in flight, so nothing the
 * host sends is dropped while the sketch is busy (a real Uno would drop it). */
extern "C" {
volatile uint16_t tinyml_sim_rx_taken __attribute__((used));
}
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

extern "C" int tinyml_port_read(void)
{
    int c = Serial.read();
#if defined(TINYML_SIMAVR)
    if (c >= 0) tinyml_sim_rx_taken = (uint16_t)(tinyml_sim_rx_taken + 1u);
#endif
    return c;
}

extern "C" void tinyml_port_idle(void)
{
#if defined(ESP32)
    delay(1); /* lets the idle task feed the watchdog */
#elif defined(__AVR__)
    /* Idle sleep until the next interrupt (a received byte, or timer0 every 1.024 ms). The check
     * and the sleep are atomic: `sei; sleep` runs the sleep before any pending interrupt. */
    set_sleep_mode(SLEEP_MODE_IDLE);
    cli();
    if (!Serial.available()) {
        sleep_enable();
        sei();
        sleep_cpu();
        sleep_disable();
    }
    sei();
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
