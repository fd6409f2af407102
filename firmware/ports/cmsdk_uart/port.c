/* tinyml port for the ARM CMSDK APB UART (QEMU mps2-an386, UART0 at 0x40004000).
 *
 * RX by interrupt into a ring buffer (QEMU's UART holds one byte and applies back-pressure to
 * the host), TX by polling the "TX buffer full" flag. IRQ numbers from QEMU's mps2 model:
 * UART0 RX is IRQ 0, TX is IRQ 1.
 */
#include <stddef.h>
#include <stdint.h>

#include "../cortex_m/cortex_m.h"
#include "tinyml/port.h"

#define UART_BASE 0x40004000u
#define UART_DATA TM_REG(UART_BASE + 0x000u)
#define UART_STATE TM_REG(UART_BASE + 0x004u)
#define UART_CTRL TM_REG(UART_BASE + 0x008u)
#define UART_INTCLEAR TM_REG(UART_BASE + 0x00Cu)
#define UART_BAUDDIV TM_REG(UART_BASE + 0x010u)

#define STATE_TX_FULL 0x1u
#define STATE_RX_FULL 0x2u
#define CTRL_TX_EN 0x1u
#define CTRL_RX_EN 0x2u
#define CTRL_RX_INT_EN 0x8u
#define INT_RX 0x2u
#define UART_RX_IRQ 0u

static tm_ring_t rx;

void IRQ0_Handler(void)
{
    UART_INTCLEAR = INT_RX;
    while (UART_STATE & STATE_RX_FULL) {
        tm_ring_put(&rx, (uint8_t)UART_DATA);
    }
}

void tinyml_port_init(uint32_t baud)
{
    tm_clock_init();
    /* The divider must be >= 16 or the model refuses to transmit; the APB clock is F_CPU. */
    uint32_t div = baud ? (uint32_t)(F_CPU / baud) : 16u;
    UART_BAUDDIV = div < 16u ? 16u : div;
    UART_CTRL = CTRL_TX_EN | CTRL_RX_EN | CTRL_RX_INT_EN;
    /* A byte that arrived before the receive interrupt was enabled raised no interrupt, and the
     * one-byte receive buffer holds QEMU back until it is read: take it now. */
    while (UART_STATE & STATE_RX_FULL) {
        tm_ring_put(&rx, (uint8_t)UART_DATA);
    }
    tm_nvic_enable(UART_RX_IRQ);
    tm_irq_enable();
}

void tinyml_port_write(const uint8_t *buf, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        while (UART_STATE & STATE_TX_FULL) {
        }
        UART_DATA = buf[i];
    }
}

int tinyml_port_read(void) { return tm_ring_get(&rx); }

void tinyml_port_idle(void) { tm_idle(&rx); }
