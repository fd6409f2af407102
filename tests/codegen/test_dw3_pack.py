"""The 3x3 depthwise fast path's generation-time side (ops/depthwise_conv.py: dw3_records): which
layers get packed constants, what the words hold, and the domain where the folded requantization
is exact (outside it the layer keeps the generic path)."""

from __future__ import annotations

import re

import numpy as np
import pytest

from tinyml.codegen.aot.generator import generate
from tinyml.codegen.aot.ops.depthwise_conv import DW3_WORDS, dw3_records
from tinyml.model.tflite import parse
from tinyml.profile.variants import variants_graph

pytestmark = pytest.mark.codegen


def test_variants_graph_packs_exactly_the_3x3_layers() -> None:
    """10 packed 3x3 layers (strides 1/2, SAME/VALID, 36/7/4/2 channels, clamped, per-tensor, rows
    wider than the window buffer); the
    multiplier > 1, dilated, 2x2, 3x1 x2, 5x3, 1x2 and 1x1 layers keep the generic path: a plan that
    silently stopped packing would leave the dw3 kernels untested."""
    c = generate(parse(variants_graph(0)[0]), target="host")["model.c"]
    assert len(re.findall(r"tinyml_depthwise_conv_s8\(", c)) == 19
    assert len(re.findall(r"\.packed = TINYML_DW_PACK\(", c)) == 10
    # the packed arrays exist only in builds with the fast kernels (AVR keeps its flash)
    assert len(re.findall(r"#ifdef TINYML_DW_PACKED\nstatic TINYML_CONST int32_t \w+\[", c)) == 10


def _one(w: np.ndarray, bias: int = 1000, mult: int = 1 << 30, shift: int = -7, in_off: int = 128,
         out_off: int = -5) -> list[int] | None:
    return dw3_records(w.reshape(3, 3, 1), np.array([bias], dtype=np.int32), [mult], [shift], in_off, out_off)


def test_record_words() -> None:
    w = np.arange(-4, 5, dtype=np.int8).reshape(3, 3)  # w[ky][kx] = -4 .. 4
    rec = _one(w)
    assert rec is not None and len(rec) == DW3_WORDS
    wa, wb, bias2, m, rnd, wc = rec
    as_bytes = lambda v: [int(b) for b in np.array([v], dtype=np.int32).view(np.int8)]  # noqa: E731
    assert as_bytes(wa) == [w[0, 0], w[0, 1], w[1, 0], w[1, 1]]
    assert as_bytes(wb) == [w[0, 2], w[2, 0], w[1, 2], w[2, 1]]
    assert bias2 == 2 * (1000 + 128 * int(w.sum()))
    assert m == 1 << 30 and rnd == (1 << 6) - 5 * (1 << 7)
    assert wc >> 16 == 2 * w[2, 2] and wc & 0xFF == 7


@pytest.mark.parametrize("kw", [{"shift": 0}, {"shift": 1}, {"shift": -32}, {"bias": (1 << 29) - 9 * 255 * 128},
                                {"shift": -24, "out_off": 127}])
def test_outside_the_exact_domain_nothing_is_packed(kw: dict) -> None:
    """No right shift (or a left shift), a bias that could overflow 2^29, or an output offset
    that makes the folded rounding constant wrap: None (the generic kernels run)."""
    assert _one(np.ones((3, 3), dtype=np.int8), **kw) is None


def test_edges_of_the_domain_are_packed() -> None:
    assert _one(np.ones((3, 3), dtype=np.int8), shift=-1) is not None
    assert _one(np.ones((3, 3), dtype=np.int8), bias=(1 << 29) - 9 * 255 * 128 - 1) is not None
    assert _one(np.ones((3, 3), dtype=np.int8), shift=-23, out_off=127) is not None


def test_packed_layers_keep_one_copy_of_their_constants() -> None:
    """Builds with the fast kernels see only packed[] (the reference arrays are #ifndef
    TINYML_DW_PACKED and NULL in the params); the others (AVR) only the reference arrays."""
    c = generate(parse(variants_graph(0)[0]), target="host")["model.c"]
    for key in ("filter", "bias", "multiplier", "shift"):
        assert len(re.findall(rf"\.{key} = TINYML_DW_REF\(", c)) == 10
    assert len(re.findall(r"#ifndef TINYML_DW_PACKED\nstatic TINYML_CONST", c)) == 40


def test_python_limit_matches_the_kernel() -> None:
    """dw3_run refuses more than TINYML_DW_MAX_CH channels (its zero-point row); the generator
    must not pack those layers (their builds would have no fallback arrays)."""
    from tinyml.codegen.aot.ops.depthwise_conv import DW3_MAX_CH
    from tinyml.resources import resource_dir

    hdr = (resource_dir("firmware") / "include" / "tinyml" / "kernels_fast.h").read_text()
    assert re.search(rf"#define TINYML_DW_MAX_CH {DW3_MAX_CH}\n", hdr)
