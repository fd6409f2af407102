"""The fast int8 kernels' portable C paths (host build) vs the TFLM interpreter, on a graph with
one branch per kernel variant (tinyml.profile.variants): odd channel counts, k % 4 tails, one and
two pixels per pass, reference fallbacks, both requantization paths, extreme input offsets."""

from __future__ import annotations

import numpy as np
import pytest

from tinyml.codegen.aot.host import build_library, run_aot
from tinyml.model.reference import run_reference
from tinyml.model.tflite import parse
from tinyml.profile.variants import variants_graph

pytestmark = pytest.mark.codegen


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_variant_bit_exact_on_the_host(seed: int) -> None:
    raw, names = variants_graph(seed)
    model = parse(raw)
    x = np.random.default_rng(100 + seed).integers(-128, 128, size=(4, *model.input_tensors()[0].shape[1:]),
                                                   dtype=np.int8)
    x[0] = -128  # every input at the edge of the offset range
    x[1] = 127
    want = run_reference(raw, x)
    got = run_aot(model, x)
    assert got.shape == want.shape
    bad = np.argwhere(got != want)
    assert bad.size == 0, f"{len(bad)} outputs differ, first at {bad[0]} of {names}"


def test_fast_paths_compile_for_cortex_m_without_dsp_too(tmp_path) -> None:
    """Both kernel sets (DSP and TINYML_NO_DSP) build warning-free with -Werror on the host: the
    fast files must not depend on the DSP build to compile."""
    from tinyml.codegen.aot.generator import generate

    files = generate(parse(variants_graph(0)[0]), target="host")
    assert build_library(files, extra_flags=("-DTINYML_NO_DSP",)).exists()
    assert build_library(files, extra_flags=("-DTINYML_NO_FAST",)).exists()


def test_variants_graph_reaches_every_conv_fc_plan() -> None:
    """The generator planned the fast path for the conv / fully-connected branches that have
    one, kept the reference loop for the rest, and named all four requantization variants: a
    plan that silently fell back would leave a fast variant untested."""
    import re

    from tinyml.codegen.aot.generator import generate

    c = generate(parse(variants_graph(0)[0]), target="host")["model.c"]
    fast_conv, all_conv = len(re.findall(r"tinyml_conv_mm_s8\(", c)), len(re.findall(r"tinyml_conv_s8\(", c))
    fast_fc, all_fc = len(re.findall(r"tinyml_fc_mm_s8\(", c)), len(re.findall(r"tinyml_fully_connected_s8\(", c))
    small_fc = len(re.findall(r"tinyml_fc_small_[lr]_(?:sat|clamp)\(", c))
    assert (all_conv - fast_conv, all_fc - fast_fc - small_fc) == (2, 1)  # k > 1152, mixed shifts; depth 1512
    assert fast_conv == 14 and fast_fc == 4 and small_fc == 6
    assert set(re.findall(r"tinyml_mm_[lr]_(?:sat|clamp)", c)) == {
        "tinyml_mm_r_sat", "tinyml_mm_r_clamp", "tinyml_mm_l_sat", "tinyml_mm_l_clamp"}
    assert set(re.findall(r"tinyml_fc_small_[lr]_(?:sat|clamp)", c)) == {
        "tinyml_fc_small_r_sat", "tinyml_fc_small_r_clamp", "tinyml_fc_small_l_sat", "tinyml_fc_small_l_clamp"}


def test_pointwise_conv_read_in_place_with_its_output_streamed_over_the_input() -> None:
    """A 1x1 conv on a one-pixel-wide image, 16 -> 4 channels: the planner streams the output
    over the input (output row oy + 1 over input row oy), and portable C reads the pixels in
    place, two at a time: the pixel of the earlier row must be copied before the later pixel's
    outputs are written."""
    from tinyml.codegen.aot.planner import plan as plan_memory
    from tinyml.codegen.aot.synth import GraphBuilder

    rng = np.random.default_rng(5)
    g = GraphBuilder()
    x = g.tensor((1, 6, 1, 16), scale=0.05, zero_point=-3, name="input")
    w = g.tensor((4, 1, 1, 16), data=rng.integers(-127, 128, size=(4, 1, 1, 16)).astype(np.int8),
                 scale=[0.01] * 4, zero_point=[0] * 4, axis=0)
    b = g.tensor((4,), "int32", data=rng.integers(-999, 999, size=4).astype(np.int32), scale=[0.0005] * 4,
                 zero_point=[0] * 4)
    y = g.tensor((1, 6, 1, 4), scale=0.08, zero_point=2)
    g.op("CONV_2D", [x, w, b], [y], padding="VALID", stride_h=1, stride_w=1, fused_activation_function="NONE")
    z = g.tensor((1, 6, 1, 4), scale=0.08, zero_point=2, name="output")
    g.op("RELU", [y], [z])
    raw = g.build([x], [z])
    model = parse(raw)
    mem = plan_memory(model)
    xo, yo = mem.offset(model.operators[0].inputs[0]), mem.offset(model.operators[0].outputs[0])
    assert xo - 16 < yo < xo, "the planner no longer streams this output over its input"
    xs = rng.integers(-128, 128, size=(3, 6, 1, 16), dtype=np.int8)
    assert np.array_equal(run_aot(model, xs), run_reference(raw, xs))
