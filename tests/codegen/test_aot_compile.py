"""The generated C compiles warning-free for every target, and runs bit-exact on virtual boards.

The model uses every kernel of the aot core (conv, depthwise, pooling, pad, concatenation with a
constant input, reshape, fully connected). On simavr (ATmega328P) its weights sit in PROGMEM and
are read with pgm_read_*; on QEMU mps2-an386 it runs as Cortex-M4 code. Both must print exactly
the TFLM interpreter's output bytes.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from cross_targets import TARGETS, WARN, build_avr, build_m4, includes, need, run_qemu_m4, run_simavr

from tinyml.codegen.aot import generate
from tinyml.codegen.aot.host import kernel_sources
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.model.reference import run_reference
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen



def small_model() -> bytes:
    rng = np.random.default_rng(5)
    g = GraphBuilder()
    q_in, q_mid, q_out = (0.04, -5), (0.06, 3), (0.09, -2)

    def w(shape, n, axis=0):
        return g.tensor(shape, data=rng.integers(-127, 128, size=shape).astype(np.int8),
                        scale=list(rng.uniform(0.002, 0.02, size=n)), zero_point=[0] * n, axis=axis)

    def b(n, scale):
        return g.tensor((n,), "int32", data=rng.integers(-3000, 3000, size=n).astype(np.int32),
                        scale=[scale] * n, zero_point=[0] * n)

    x = g.tensor((1, 7, 6, 2), scale=q_in[0], zero_point=q_in[1], name="input")
    c = g.tensor((1, 7, 6, 5), scale=q_mid[0], zero_point=q_mid[1])
    g.op("CONV_2D", [x, w((5, 3, 3, 2), 5), b(5, 1e-4)], [c], padding="SAME", stride_h=1, stride_w=1,
         dilation_h_factor=1, dilation_w_factor=1, fused_activation_function="RELU")
    d = g.tensor((1, 3, 3, 10), scale=q_mid[0], zero_point=q_mid[1])
    g.op("DEPTHWISE_CONV_2D", [c, w((1, 3, 3, 10), 10, axis=3), b(10, 2e-4)], [d], padding="VALID",
         stride_h=2, stride_w=2, depth_multiplier=2, dilation_h_factor=1, dilation_w_factor=1,
         fused_activation_function="RELU6")
    p = g.tensor((1, 5, 4, 10), scale=q_mid[0], zero_point=q_mid[1])
    g.op("PAD", [d, g.tensor((4, 2), "int32", data=np.array([[0, 0], [1, 1], [0, 1], [0, 0]], np.int32))], [p])
    a = g.tensor((1, 3, 2, 10), scale=q_mid[0], zero_point=q_mid[1])
    g.op("AVERAGE_POOL_2D", [p], [a], padding="SAME", stride_h=2, stride_w=2, filter_height=2, filter_width=2,
         fused_activation_function="NONE")
    m = g.tensor((1, 3, 2, 10), scale=q_mid[0], zero_point=q_mid[1])
    g.op("MAX_POOL_2D", [a], [m], padding="SAME", stride_h=1, stride_w=1, filter_height=3, filter_width=2,
         fused_activation_function="NONE")
    k = g.tensor((1, 3, 2, 3), data=rng.integers(-128, 128, size=(1, 3, 2, 3)).astype(np.int8),
                 scale=q_mid[0], zero_point=q_mid[1])
    cat = g.tensor((1, 3, 2, 13), scale=q_mid[0], zero_point=q_mid[1])
    g.op("CONCATENATION", [m, k], [cat], axis=3, fused_activation_function="NONE")
    flat = g.tensor((1, 78), scale=q_mid[0], zero_point=q_mid[1])
    g.op("RESHAPE", [cat, g.tensor((2,), "int32", data=np.array([1, 78], np.int32))], [flat], new_shape=[1, 78])
    y = g.tensor((1, 7), scale=q_out[0], zero_point=q_out[1], name="output")
    g.op("FULLY_CONNECTED", [flat, w((7, 78), 1), b(7, 0.06 * 0.01)], [y], fused_activation_function="NONE")
    return g.build([x], [y])


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """The generated files in a directory, and TFLM's output for the input the test mains use."""
    raw = small_model()
    model = parse(raw)
    d = tmp_path_factory.mktemp("aot-compile")
    for name, text in generate(model, name="small").items():
        (d / name).write_text(text)
    n = model.input_tensors()[0].size
    x = ((np.arange(n) * 37 + 11) % 256).astype(np.uint8).view(np.int8)  # what the mains feed
    want = run_reference(raw, x.reshape(1, *model.input_tensors()[0].shape[1:]))
    return d, want.reshape(-1)


@pytest.mark.parametrize("target", list(TARGETS))
def test_compiles_warning_free(project, target, tmp_path):
    d, _ = project
    cc, *flags = TARGETS[target]
    need(cc)
    for src in [d / "model.c", *kernel_sources()]:
        res = subprocess.run([cc, *flags, *WARN, *includes(d), "-c", str(src), "-o", str(tmp_path / "x.o")],
                             capture_output=True, text=True)
        assert res.returncode == 0, f"{target}: {src.name}\n{res.stderr}"


AVR_MAIN = r"""
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include "model.h"
static void put(uint8_t c) { while (!(UCSR0A & (1 << UDRE0))) {} UDR0 = c; }
int main(void) {
    static int8_t in[TINYML_INPUT_BYTES], out[TINYML_OUTPUT_BYTES];
    static const char hex[] = "0123456789abcdef";
    uint16_t i;
    UBRR0 = 0; UCSR0B = (1 << TXEN0); UCSR0C = (3 << UCSZ00);
    for (i = 0; i < TINYML_INPUT_BYTES; ++i) in[i] = (int8_t)(i * 37u + 11u);
    if (tinyml_init() != 0 || tinyml_invoke(in, out) != 0) put('!');
    put('<');
    for (i = 0; i < TINYML_OUTPUT_BYTES; ++i) { put(hex[(uint8_t)out[i] >> 4]); put(hex[(uint8_t)out[i] & 15]); }
    put('>'); put('\n');
    cli(); sleep_enable(); sleep_cpu();
    return 0;
}
"""

ARM_MAIN = r"""
#include <stdint.h>
#include "model.h"
static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
int main(void)
{
    static int8_t in[TINYML_INPUT_BYTES], out[TINYML_OUTPUT_BYTES];
    static char text[2 * TINYML_OUTPUT_BYTES + 4];
    static const char hex[] = "0123456789abcdef";
    uint32_t i;
    for (i = 0; i < TINYML_INPUT_BYTES; ++i) in[i] = (int8_t)(i * 37u + 11u);
    text[0] = (tinyml_init() != 0 || tinyml_invoke(in, out) != 0) ? '!' : '<';
    for (i = 0; i < TINYML_OUTPUT_BYTES; ++i) {
        text[1 + 2 * i] = hex[(uint8_t)out[i] >> 4];
        text[2 + 2 * i] = hex[(uint8_t)out[i] & 15u];
    }
    text[1 + 2 * TINYML_OUTPUT_BYTES] = '>';
    text[2 + 2 * TINYML_OUTPUT_BYTES] = '\n';
    semihost(0x04, text);                  /* SYS_WRITE0 */
    semihost(0x18, (const void *)0x20026); /* SYS_EXIT: ADP_Stopped_ApplicationExit */
    for (;;) {}
}
"""


@pytest.mark.emulator
def test_avr_simavr_matches_tflm(project, tmp_path):
    d, want = project
    elf = build_avr(d, AVR_MAIN, tmp_path, libs=("-lm",))
    # the weights and params live in flash (PROGMEM, addresses below 0x800000), not in the 2 kB of RAM
    nm = subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    placed = {name: int(addr, 16) for addr, _, name in (line.split() for line in nm.splitlines())
              if re.fullmatch(r"op\d+_\w+", name)}
    assert placed and all(addr < 0x800000 for addr in placed.values()), placed
    got = np.frombuffer(run_simavr(elf), dtype=np.int8)
    assert got.tolist() == want.tolist()


@pytest.mark.emulator
def test_cortex_m4_qemu_matches_tflm(project, tmp_path):
    d, want = project
    got = np.frombuffer(run_qemu_m4(build_m4(d, ARM_MAIN, tmp_path, libs=("-lm",))), dtype=np.int8)
    assert got.tolist() == want.tolist()
