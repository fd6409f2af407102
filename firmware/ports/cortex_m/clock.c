/* Device clock for the QEMU Cortex-M ports, from SysTick.
 *
 * QEMU does not emulate the DWT cycle counter, but SysTick runs from the core clock in QEMU's
 * virtual time; with `-icount shift=N` virtual time is a function of the executed instruction
 * count, so these timings are deterministic from run to run.
 */
#include <stdint.h>

#include "cortex_m.h"
#include "tinyml/port.h"

/* A 100 Hz tick: tinyml_port_idle() (WFI) then returns at least every 10 ms, so a runtime that
 * streams on a timer wakes up in time; the emulator stays near 0% CPU when idle. */
#define TM_TICK_HZ 100u
#define TM_SYST_RELOAD (F_CPU / TM_TICK_HZ - 1u)
#if TM_SYST_RELOAD > 0x00FFFFFFu
#error "SysTick reload does not fit 24 bits: raise TM_TICK_HZ"
#endif

static volatile uint32_t tm_wraps; /* SysTick wraps, each TM_SYST_RELOAD + 1 cycles */

void SysTick_Handler(void) { tm_wraps++; }

void tm_clock_init(void)
{
    TM_SYST_RVR = TM_SYST_RELOAD;
    TM_SYST_CVR = 0u;
    TM_SYST_CSR = 0x7u; /* enable, interrupt on wrap, core clock */
}

static uint64_t tm_cycles64(void)
{
    uint32_t w1;
    uint32_t w2;
    uint32_t val;
    /* Re-read if a wrap interrupt ran between reading the count and the value. */
    do {
        w1 = tm_wraps;
        val = TM_SYST_CVR;
        w2 = tm_wraps;
    } while (w1 != w2);
    return (uint64_t)w1 * (TM_SYST_RELOAD + 1u) + (uint64_t)(TM_SYST_RELOAD - val);
}

uint32_t tinyml_port_cycles(void) { return (uint32_t)tm_cycles64(); }

uint32_t tinyml_port_micros(void) { return (uint32_t)(tm_cycles64() / (F_CPU / 1000000u)); }
