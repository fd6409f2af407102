/* Shared Cortex-M pieces of the QEMU ports: core registers, SysTick clock, ring buffer. */
#ifndef TINYML_CORTEX_M_H
#define TINYML_CORTEX_M_H

#include <stdint.h>

#ifndef F_CPU
#error "F_CPU (core clock in Hz) must be defined by the build (board JSON build.f_cpu)"
#endif

#define TM_REG(addr) (*(volatile uint32_t *)(addr))

/* NVIC and SysTick (ARMv7-M architecture reference manual, B3.3 / B3.4). */
#define TM_NVIC_ISER(n) TM_REG(0xE000E100u + 4u * (n))
#define TM_SYST_CSR TM_REG(0xE000E010u)
#define TM_SYST_RVR TM_REG(0xE000E014u)
#define TM_SYST_CVR TM_REG(0xE000E018u)

static inline void tm_nvic_enable(unsigned irq) { TM_NVIC_ISER(irq / 32u) = 1u << (irq % 32u); }
static inline void tm_irq_disable(void) { __asm__ volatile("cpsid i" ::: "memory"); }
static inline void tm_irq_enable(void) { __asm__ volatile("cpsie i" ::: "memory"); }
static inline void tm_wfi(void) { __asm__ volatile("dsb\n\twfi" ::: "memory"); }

/* Starts SysTick counting core cycles with a 100 Hz wrap interrupt. */
void tm_clock_init(void);

/* Receive ring buffer: filled by the UART interrupt, drained by tinyml_port_read(). Single
 * producer (ISR), single consumer (main loop): no lock needed with volatile indices. */
#define TM_RX_SIZE 512u
typedef struct {
    volatile uint16_t head; /* written by the ISR */
    volatile uint16_t tail; /* written by the reader */
    volatile uint32_t dropped;
    uint8_t buf[TM_RX_SIZE];
} tm_ring_t;

static inline void tm_ring_put(tm_ring_t *r, uint8_t b)
{
    uint16_t next = (uint16_t)((r->head + 1u) % TM_RX_SIZE);
    if (next == r->tail) {
        r->dropped++;
        return;
    }
    r->buf[r->head] = b;
    r->head = next;
}

static inline int tm_ring_get(tm_ring_t *r)
{
    if (r->tail == r->head) {
        return -1;
    }
    uint8_t b = r->buf[r->tail];
    r->tail = (uint16_t)((r->tail + 1u) % TM_RX_SIZE);
    return b;
}

static inline int tm_ring_empty(const tm_ring_t *r) { return r->tail == r->head; }

/* Sleep only if nothing is pending: interrupts are masked around the check so a byte that
 * arrives between the check and WFI still wakes the core (WFI wakes on a pending IRQ even
 * with PRIMASK set; the handler runs once interrupts are enabled again). */
static inline void tm_idle(const tm_ring_t *r)
{
    tm_irq_disable();
    if (tm_ring_empty(r)) {
        tm_wfi();
    }
    tm_irq_enable();
}

#endif /* TINYML_CORTEX_M_H */
