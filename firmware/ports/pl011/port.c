/* tinyml port for the ARM PL011 UART (QEMU lm3s6965evb, UART0 at 0x4000C000, IRQ 5).
 *
 * FIFOs stay disabled so every received byte raises the RX interrupt and QEMU holds further
 * bytes back (back-pressure) until the handler has moved this one into the ring buffer.
 * QEMU's PL011 drops bytes that arrive before the guest enables it: the runtime starts with a
 * banner and the host retries its first command.
 */
#include <stddef.h>
#include <stdint.h>

#include "../cortex_m/cortex_m.h"
#include "tinyml/port.h"

#define UART_BASE 0x4000C000u
#define UART_DR TM_REG(UART_BASE + 0x000u)
#define UART_FR TM_REG(UART_BASE + 0x018u)
#define UART_IBRD TM_REG(UART_BASE + 0x024u)
#define UART_FBRD TM_REG(UART_BASE + 0x028u)
#define UART_LCRH TM_REG(UART_BASE + 0x02Cu)
#define UART_CR TM_REG(UART_BASE + 0x030u)
#define UART_IMSC TM_REG(UART_BASE + 0x038u)
#define UART_ICR TM_REG(UART_BASE + 0x044u)

#define FR_RXFE 0x10u
#define FR_TXFF 0x20u
#define CR_UARTEN 0x001u
#define CR_TXE 0x100u
#define CR_RXE 0x200u
#define INT_RX 0x10u
#define INT_RT 0x40u
#define LCRH_8N1 0x60u
#define UART_IRQ 5u

static tm_ring_t rx;

void IRQ5_Handler(void)
{
    while (!(UART_FR & FR_RXFE)) {
        tm_ring_put(&rx, (uint8_t)UART_DR);
    }
    UART_ICR = INT_RX | INT_RT;
}

void tinyml_port_init(uint32_t baud)
{
    tm_clock_init();
    UART_CR = 0u;
    if (baud) {
        /* Divisor = UARTCLK / (16 * baud) as 16.6 fixed point (QEMU ignores it; hardware not). */
        uint32_t div64 = (uint32_t)(((uint64_t)F_CPU * 4u + baud / 2u) / baud);
        UART_IBRD = div64 >> 6;
        UART_FBRD = div64 & 0x3Fu;
    }
    UART_LCRH = LCRH_8N1;
    UART_ICR = 0x7FFu;
    UART_IMSC = INT_RX | INT_RT;
    UART_CR = CR_UARTEN | CR_TXE | CR_RXE;
    /* A byte the host sent before this point may sit in the receive register with its interrupt
     * already cleared above; QEMU then accepts nothing more until it is read. Keep it. */
    while (!(UART_FR & FR_RXFE)) {
        tm_ring_put(&rx, (uint8_t)UART_DR);
    }
    tm_nvic_enable(UART_IRQ);
    tm_irq_enable();
}

void tinyml_port_write(const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (UART_FR & FR_TXFF) {
        }
        UART_DR = buf[i];
    }
}

int tinyml_port_read(void) { return tm_ring_get(&rx); }

void tinyml_port_idle(void) { tm_idle(&rx); }
