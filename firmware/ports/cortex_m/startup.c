/* Reset handler and vector table for the QEMU Cortex-M machines (M3 and M4F).
 *
 * Copies .data from flash, zeroes .bss, enables the FPU when the build uses hardware floats,
 * runs C/C++ constructors and calls main(). Every interrupt defaults to a handler that parks
 * the core; a port overrides the ones it uses by defining IRQ<n>_Handler.
 */
#include <stdint.h>

#include "cortex_m.h"

extern uint32_t _sidata, _sdata, _edata, _sbss, _ebss, _estack;
extern int main(void);
extern void __libc_init_array(void);

void Reset_Handler(void);

void Default_Handler(void)
{
    for (;;) {
        tm_wfi();
    }
}

/* A fault parks the core too: on QEMU it shows as a silent board, which the host reports. */
void HardFault_Handler(void) { Default_Handler(); }

#define TM_WEAK __attribute__((weak, alias("Default_Handler")))
void NMI_Handler(void) TM_WEAK;
void MemManage_Handler(void) TM_WEAK;
void BusFault_Handler(void) TM_WEAK;
void UsageFault_Handler(void) TM_WEAK;
void SVC_Handler(void) TM_WEAK;
void DebugMon_Handler(void) TM_WEAK;
void PendSV_Handler(void) TM_WEAK;
void SysTick_Handler(void) TM_WEAK;
#define TM_IRQ(n) void IRQ##n##_Handler(void) TM_WEAK;
TM_IRQ(0) TM_IRQ(1) TM_IRQ(2) TM_IRQ(3) TM_IRQ(4) TM_IRQ(5) TM_IRQ(6) TM_IRQ(7)
TM_IRQ(8) TM_IRQ(9) TM_IRQ(10) TM_IRQ(11) TM_IRQ(12) TM_IRQ(13) TM_IRQ(14) TM_IRQ(15)
TM_IRQ(16) TM_IRQ(17) TM_IRQ(18) TM_IRQ(19) TM_IRQ(20) TM_IRQ(21) TM_IRQ(22) TM_IRQ(23)
TM_IRQ(24) TM_IRQ(25) TM_IRQ(26) TM_IRQ(27) TM_IRQ(28) TM_IRQ(29) TM_IRQ(30) TM_IRQ(31)

typedef void (*tm_vector_t)(void);

__attribute__((section(".isr_vector"), used)) const tm_vector_t tm_vectors[16 + 32] = {
    (tm_vector_t)(uintptr_t)&_estack,
    Reset_Handler, NMI_Handler, HardFault_Handler, MemManage_Handler, BusFault_Handler,
    UsageFault_Handler, 0, 0, 0, 0, SVC_Handler, DebugMon_Handler, 0, PendSV_Handler,
    SysTick_Handler,
    IRQ0_Handler, IRQ1_Handler, IRQ2_Handler, IRQ3_Handler, IRQ4_Handler, IRQ5_Handler,
    IRQ6_Handler, IRQ7_Handler, IRQ8_Handler, IRQ9_Handler, IRQ10_Handler, IRQ11_Handler,
    IRQ12_Handler, IRQ13_Handler, IRQ14_Handler, IRQ15_Handler, IRQ16_Handler, IRQ17_Handler,
    IRQ18_Handler, IRQ19_Handler, IRQ20_Handler, IRQ21_Handler, IRQ22_Handler, IRQ23_Handler,
    IRQ24_Handler, IRQ25_Handler, IRQ26_Handler, IRQ27_Handler, IRQ28_Handler, IRQ29_Handler,
    IRQ30_Handler, IRQ31_Handler,
};

void Reset_Handler(void)
{
    uint32_t *src = &_sidata;
    for (uint32_t *dst = &_sdata; dst < &_edata;) {
        *dst++ = *src++;
    }
    for (uint32_t *dst = &_sbss; dst < &_ebss;) {
        *dst++ = 0u;
    }
#if defined(__ARM_FP)
    /* CPACR: full access to CP10/CP11 before the first floating-point instruction. */
    TM_REG(0xE000ED88u) |= (0xFu << 20);
    __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
    __libc_init_array();
    (void)main();
    Default_Handler();
}

/* newlib-nano's init_array walker calls _init; nothing to do on bare metal. */
void _init(void) {}
