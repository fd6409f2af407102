"""SOFTMAX's generation-time exp table (ops/softmax.py exp_table): present in builds with the fast
kernels only, and shaped as the kernel indexes it. Bit-exactness of its values is checked by the
random SOFTMAX graphs of test_aot_ops2_synth.py against the TFLM interpreter (host, M4, AVR)."""

from __future__ import annotations

import re

import pytest

from tinyml.codegen.aot.generator import generate
from tinyml.codegen.aot.ops.softmax import exp_table, softmax_params
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen


def test_softmax_model_gets_its_table_only_with_the_fast_kernels() -> None:
    g = GraphBuilder()
    x = g.tensor((1, 10), scale=0.1, zero_point=3)
    y = g.tensor((1, 10), scale=1 / 256, zero_point=-128)
    g.op("SOFTMAX", [x], [y], beta=1.0)
    c = generate(parse(g.build([x], [y])), target="host")["model.c"]
    assert re.search(r"\.exp_table = TINYML_SM_TABLE\(\w+\)", c)
    assert re.search(r"#ifdef TINYML_SM_TABLES\nstatic TINYML_CONST int32_t \w+\[\d+\]", c)


@pytest.mark.parametrize("scale", [0.001, 0.05, 0.5, 2.0])
def test_table_covers_every_difference_the_kernel_reads(scale: float) -> None:
    m, ls, diff_min = softmax_params(1.0, scale)
    t = exp_table(m, ls, diff_min)
    assert len(t) == min(-diff_min, 255) + 1  # indexed by -diff for diff >= max(diff_min, -255)
    assert t[0] == 2**31 - 1  # exp(0) saturates to 1.0 in Q0
    assert all(a >= b >= 0 for a, b in zip(t, t[1:], strict=False))
