"""The activation/elementwise/reduce/(de)quantize kernels on real targets: one --float-io graph
using every one of them compiles -Werror for host, Cortex-M4F, Cortex-M0+ and AVR, and prints
TFLM's exact output bytes on simavr (ATmega328P: 16-bit int, 32-bit double, PROGMEM params)
and on QEMU mps2-an386 (Cortex-M4F: single-precision FPU for QUANTIZE's division).
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

OPS = {"QUANTIZE", "LOGISTIC", "TANH", "ADD", "MUL", "MEAN", "SOFTMAX", "DEQUANTIZE"}


def ops2_model() -> tuple[bytes, float]:
    """float (1,4,4,3) -> QUANTIZE -> LOGISTIC, TANH -> ADD (+ per-channel const) -> MUL ->
    QUANTIZE (int8 requantize) -> MEAN over W -> SOFTMAX -> DEQUANTIZE -> float (1,4,1,3)."""
    rng = np.random.default_rng(11)
    g = GraphBuilder()
    x = g.tensor((1, 4, 4, 3), "float32", name="input")
    in_scale = 0.05
    xq = g.tensor((1, 4, 4, 3), scale=in_scale, zero_point=3)
    g.op("QUANTIZE", [x], [xq])
    lg = g.tensor((1, 4, 4, 3), scale=1 / 256, zero_point=-128)
    g.op("LOGISTIC", [xq], [lg])
    th = g.tensor((1, 4, 4, 3), scale=1 / 128, zero_point=0)
    g.op("TANH", [xq], [th])
    cst = g.tensor((1, 1, 1, 3), data=rng.integers(-128, 128, size=(1, 1, 1, 3)).astype(np.int8), scale=0.02,
                   zero_point=-7)
    ad = g.tensor((1, 4, 4, 3), scale=0.03, zero_point=-20)
    g.op("ADD", [lg, cst], [ad], fused_activation_function="RELU")
    mu = g.tensor((1, 4, 4, 3), scale=0.011, zero_point=5)
    g.op("MUL", [ad, th], [mu], fused_activation_function="NONE")
    rq = g.tensor((1, 4, 4, 3), scale=0.017, zero_point=-9)
    g.op("QUANTIZE", [mu], [rq])
    mn = g.tensor((1, 4, 1, 3), scale=0.013, zero_point=2)
    g.op("MEAN", [rq, g.tensor((1,), "int32", data=np.array([2], np.int32))], [mn], keep_dims=True)
    sm = g.tensor((1, 4, 1, 3), scale=1 / 256, zero_point=-128)
    g.op("SOFTMAX", [mn], [sm], beta=1.5)
    y = g.tensor((1, 4, 1, 3), "float32", name="output")
    g.op("DEQUANTIZE", [sm], [y])
    return g.build([x], [y]), in_scale


def sample_input(in_scale: float) -> np.ndarray:
    rng = np.random.default_rng(3)
    x = (rng.standard_normal(48) * 3).astype(np.float32)
    x[:8] = (np.arange(8) - 3.5) * np.float32(in_scale)  # exact halves of the input step
    x[8:10] = [1e4, -1e4]  # saturate
    return x.reshape(1, 4, 4, 3)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> tuple[Path, bytes]:
    raw, in_scale = ops2_model()
    model = parse(raw)
    assert {op.opcode for op in model.operators} == OPS | {"QUANTIZE"}
    d = tmp_path_factory.mktemp("aot-ops2")
    for name, text in generate(model, name="ops2").items():
        (d / name).write_text(text)
    x = sample_input(in_scale)
    want = run_reference(raw, x)
    in_bytes = ", ".join(str(b) for b in x.tobytes())
    (d / "input.h").write_text(f"static const unsigned char test_input[] = {{{in_bytes}}};\n")
    return d, want.astype(np.float32).tobytes()


@pytest.mark.parametrize("target", list(TARGETS))
def test_ops2_kernels_compile_warning_free(project, target, tmp_path):
    d, _ = project
    cc, *flags = TARGETS[target]
    need(cc)
    own = {f"{op}.c" for op in ("softmax", "logistic", "tanh", "add", "mul", "mean", "quantize", "dequantize")}
    for src in [d / "model.c", *kernel_sources()]:
        extra = ["-Wconversion"] if src.name in own else []  # these kernels also keep -Wconversion clean
        res = subprocess.run([cc, *flags, *WARN, *extra, *includes(d), "-c", str(src), "-o", str(tmp_path / "x.o")],
                             capture_output=True, text=True)
        assert res.returncode == 0, f"{target}: {src.name}\n{res.stderr}"


MAIN_BODY = r"""
    static unsigned char in[TINYML_INPUT_BYTES], out[TINYML_OUTPUT_BYTES];
    static const char hex[] = "0123456789abcdef";
    unsigned int i;
    for (i = 0; i < TINYML_INPUT_BYTES; ++i) in[i] = test_input[i];
    PUT(tinyml_init() != 0 || tinyml_invoke(in, out) != 0 ? '!' : '<');
    for (i = 0; i < TINYML_OUTPUT_BYTES; ++i) { PUT(hex[out[i] >> 4]); PUT(hex[out[i] & 15]); }
    PUT('>'); PUT('\n');
"""

AVR_MAIN = r"""
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include "model.h"
#include "input.h"
static void put(uint8_t c) { while (!(UCSR0A & (1 << UDRE0))) {} UDR0 = c; }
#define PUT(c) put((uint8_t)(c))
int main(void) {
    UBRR0 = 0; UCSR0B = (1 << TXEN0); UCSR0C = (3 << UCSZ00);
    {""" + MAIN_BODY + r"""}
    cli(); sleep_enable(); sleep_cpu();
    return 0;
}
"""

ARM_MAIN = r"""
#include <stdint.h>
#include "model.h"
#include "input.h"
static char text[2 * TINYML_OUTPUT_BYTES + 8];
static unsigned int pos;
#define PUT(c) (text[pos++] = (char)(c))
static int semihost(int op, const void *arg)
{
    register int r0 __asm__("r0") = op;
    register const void *r1 __asm__("r1") = arg;
    __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return r0;
}
int main(void)
{
    {""" + MAIN_BODY + r"""}
    semihost(0x04, text);                  /* SYS_WRITE0 */
    semihost(0x18, (const void *)0x20026); /* SYS_EXIT */
    for (;;) {}
}
"""


@pytest.mark.emulator
def test_ops2_on_avr_simavr_match_tflm(project, tmp_path):
    d, want = project
    elf = build_avr(d, AVR_MAIN, tmp_path)
    # every op's params struct (and the float scales in them) sits in flash, not in the 2 kB of RAM
    nm = subprocess.run(["avr-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    symbols = (line.split() for line in nm.splitlines() if line.count(" ") == 2)
    params = {name: int(addr, 16) for addr, _, name in symbols if re.fullmatch(r"op\d+_params", name)}
    assert len(params) == 9 and all(addr < 0x800000 for addr in params.values()), params
    got = run_simavr(elf, timeout=120)
    assert got == want, (np.frombuffer(got, np.float32), np.frombuffer(want, np.float32))


@pytest.mark.emulator
def test_ops2_on_cortex_m4_qemu_match_tflm(project, tmp_path):
    d, want = project
    got = run_qemu_m4(build_m4(d, ARM_MAIN, tmp_path))
    assert got == want, (np.frombuffer(got, np.float32), np.frombuffer(want, np.float32))
