"""Only the conv / fully-connected fast code a model uses is linked: the generated model.c names
its requantization variants (tinyml_mm_{r,l}_{sat,clamp}) and calls tinyml_conv_mm_s8 /
tinyml_fc_mm_s8 directly, so --gc-sections drops the rest (nothing dispatches at run time)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.model.tflite import parse
from tinyml.profile import icount

pytestmark = [pytest.mark.codegen,
              pytest.mark.skipif(not shutil.which("arm-none-eabi-gcc"), reason="needs arm-none-eabi-gcc")]


def fc_model() -> bytes:
    """input (1, 8) -> FULLY_CONNECTED 8 -> 4, RELU with the whole int8 range: variant r_sat."""
    g = GraphBuilder()
    x = g.tensor((1, 8), scale=0.05, zero_point=-128, name="input")
    w = g.tensor((4, 8), data=np.arange(32, dtype=np.int8).reshape(4, 8) - 16, scale=[0.01] * 4, zero_point=[0] * 4,
                 axis=0)
    b = g.tensor((4,), "int32", data=np.arange(4, dtype=np.int32), scale=[0.0005] * 4, zero_point=[0] * 4)
    y = g.tensor((1, 4), scale=0.1, zero_point=-128, name="output")
    g.op("FULLY_CONNECTED", [x, w, b], [y], fused_activation_function="RELU")
    return g.build([x], [y])


@pytest.mark.parametrize("dsp", [True, False])
def test_a_model_links_only_its_variant(dsp: bool) -> None:
    from tinyml.codegen.aot.generator import generate

    model = parse(fc_model())
    files = dict(generate(model, target="mps2-an386"))
    assert "tinyml_mm_r_sat" in files["model.c"]
    files["bench_input.h"] = icount._c_input(np.zeros((1, 8), dtype=np.int8))
    elf = icount.build_elf(files, machine="mps2-an386", dsp=dsp)
    nm = subprocess.run(["arm-none-eabi-nm", str(elf)], capture_output=True, text=True, check=True).stdout
    symbols = {line.split()[-1] for line in nm.splitlines() if line.strip()}
    assert {"tinyml_mm_r_sat", "tinyml_fc_mm_s8"} <= symbols
    assert not symbols & {"tinyml_mm_r_clamp", "tinyml_mm_l_sat", "tinyml_mm_l_clamp", "tinyml_conv_mm_s8",
                          "tinyml_fully_connected_s8", "tinyml_conv_s8"}
