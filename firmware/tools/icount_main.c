/* Bare-metal bench firmware for exact instruction counts on QEMU (tinyml.profile.icount).
 *
 * Built with the generated aot model.c, the kernels and the Cortex-M startup; no UART, no
 * interrupts. The QEMU plugin (qemu_icount_plugin.c) logs its instruction count each time
 * tinyml_bench_mark() is entered; the host turns consecutive differences into counts.
 * Results (output tensor) go out through Arm semihosting, then SYS_EXIT ends QEMU.
 *
 * Marker sequence, mode TINYML_BENCH_LOOP (counter validation): mark, loop of N iterations of
 * exactly 2 instructions, mark.
 * Otherwise: per run r: mark(before invoke), [with TINYML_BENCH_LAYERS: one mark per layer hook],
 * mark(after invoke).
 */
#include <stdint.h>
#include <string.h>

__attribute__((noinline)) void tinyml_bench_mark(int32_t id)
{
    __asm__ volatile("" : : "r"(id) : "memory");
}

#ifdef TINYML_BENCH_LAYERS
#define TINYML_LAYER_HOOK(i) tinyml_bench_mark(i)
#endif

#ifndef TINYML_BENCH_LOOP
#include "model.c"
#include "bench_input.h" /* tinyml_bench_input[TINYML_BENCH_SAMPLES][TINYML_INPUT_BYTES] */
#endif

static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}

static void put(const char *s) { (void)semihost(0x04, s); } /* SYS_WRITE0 */

#ifndef TINYML_BENCH_LOOP
static void put_hex(const uint8_t *p, uint32_t n)
{
    static const char digits[] = "0123456789abcdef";
    char line[65];
    uint32_t i = 0;
    while (i < n) {
        uint32_t k = 0;
        while (k < 64 && i < n) {
            line[k++] = digits[p[i] >> 4];
            line[k++] = digits[p[i] & 15];
            ++i;
        }
        line[k] = 0;
        put(line);
    }
    put("\n");
}
#endif

static void bench_exit(int code)
{
    /* SYS_EXIT: on AArch32 r1 is the reason itself; ADP_Stopped_ApplicationExit (0x20026)
     * makes QEMU exit with status 0, any other reason with status 1. */
    (void)semihost(0x18, (const void *)(uintptr_t)(code == 0 ? 0x20026u : 0x20023u));
    for (;;) {
    }
}

int main(void)
{
#ifdef TINYML_BENCH_LOOP
    uint32_t n = TINYML_BENCH_LOOP;
    tinyml_bench_mark(0);
    if (n) {
        __asm__ volatile("1: subs %0, %0, #1\n\tbne 1b" : "+r"(n) : : "cc");
    }
    tinyml_bench_mark(1);
    put("loop done\n");
#else
    static uint8_t out[TINYML_OUTPUT_BYTES];
    int s;
    if (tinyml_init() != 0) {
        put("init failed\n");
        bench_exit(1);
    }
    for (s = 0; s < TINYML_BENCH_SAMPLES; ++s) {
        int rc;
        tinyml_bench_mark(-1);
        rc = tinyml_invoke(tinyml_bench_input[s], out);
        tinyml_bench_mark(-2);
        if (rc != 0) {
            put("invoke failed\n");
            bench_exit(1);
        }
        put("out ");
        put_hex(out, TINYML_OUTPUT_BYTES);
    }
#endif
    bench_exit(0);
    return 0;
}
