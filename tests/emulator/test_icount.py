"""Exact instruction counts on QEMU (tinyml.profile.icount) and the fast kernels' Cortex-M paths.

The counter is checked against a loop of known length; the DSP paths (SXTB16/SMLAD, only compiled
for cores with the DSP extension, so never by the host tests) and the portable paths built for
Cortex-M are checked bit-exact against the TFLM interpreter on the all-variants graph, on the M4
(mps2-an386) and the M3 (lm3s6965evb)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tinyml import zoo
from tinyml.model.reference import run_reference
from tinyml.model.tflite import parse
from tinyml.profile import icount
from tinyml.profile.variants import variants_graph

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(not (shutil.which("qemu-system-arm") and shutil.which("arm-none-eabi-gcc")),
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]



@pytest.mark.parametrize("machine", ["mps2-an386", "lm3s6965evb"])
def test_counter_matches_a_loop_of_known_length(machine: str) -> None:
    base = icount.loop_count(1, machine=machine)
    for n in (2, 1000, 250_000):
        assert icount.loop_count(n, machine=machine) - base == 2 * (n - 1)
    assert icount.loop_count(1000, machine=machine) == icount.loop_count(1000, machine=machine)


@pytest.fixture(scope="module")
def variants():
    raw, names = variants_graph(1)  # input zero point -128: the largest input offset
    model = parse(raw)
    x = np.random.default_rng(7).integers(-128, 128, size=(3, *model.input_tensors()[0].shape[1:]), dtype=np.int8)
    x[0] = 127
    return model, x, run_reference(raw, x), names


@pytest.mark.parametrize("machine,dsp", [("mps2-an386", True), ("mps2-an386", False), ("lm3s6965evb", False)])
def test_every_variant_bit_exact_on_cortex_m(variants, machine: str, dsp: bool) -> None:
    model, x, want, names = variants
    m = icount.measure(model, x, machine=machine, dsp=dsp, layers=(machine == "mps2-an386" and dsp))
    bad = np.argwhere(m.outputs != want)
    assert m.outputs.shape == want.shape and bad.size == 0, f"{len(bad)} outputs differ: {names}"
    assert all(n > 0 for n in m.per_inference)
    if m.layers:
        counts = [n for _, n in m.layers]
        assert all(n > 0 for n in counts) and sum(counts) <= m.per_inference[0]
        assert {name for name, _ in m.layers} >= {"CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"}


def test_dsp_paths_are_taken(variants) -> None:
    """The DSP build must run fewer instructions than the portable one on the same core (else the
    __ARM_FEATURE_DSP paths were not compiled in, and the bit-exact test above checked nothing new)."""
    model, x, _, _ = variants
    dsp = icount.measure(model, x[:1], dsp=True, layers=False).per_inference[0]
    portable = icount.measure(model, x[:1], dsp=False, layers=False).per_inference[0]
    assert dsp < 0.9 * portable


def test_unknown_machine_is_refused() -> None:
    from tinyml.errors import TinymlError

    with pytest.raises(TinymlError, match="no icount bench"):
        icount.build_elf({}, machine="virt", loop=1)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["digits_cnn", "kws_dscnn", "vww_mobilenet", "ic_resnet8", "ad_autoencoder"])
def test_zoo_model_bit_exact_with_dsp_kernels_on_m4(zoo_dir: Path, name: str) -> None:
    raw = zoo.quantized(name, zoo_dir)
    model = parse(raw)
    x = np.random.default_rng(3).integers(-128, 128, size=(2, *model.input_tensors()[0].shape[1:]), dtype=np.int8)
    m = icount.measure(model, x, dsp=True, layers=False, name=name)
    assert np.array_equal(m.outputs, run_reference(raw, x))
