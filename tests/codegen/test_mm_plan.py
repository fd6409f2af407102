"""The conv / fully-connected fast path's generation-time plan (tinyml/codegen/aot/ops/_mm.py):
the records it emits, replayed with the kernels' integer steps, give TFLM's requantization at
the edges of each layer's accumulator range; layers outside the proven domain get no plan."""

from __future__ import annotations

import numpy as np
import pytest
from test_aot_fixedpoint import mbqm  # type: ignore[import-not-found]

from tinyml.codegen.aot.ops._mm import interleave, plan

pytestmark = pytest.mark.codegen

M32 = 1 << 32


def s32(v: int) -> int:
    v &= M32 - 1
    return v - M32 if v >= 1 << 31 else v


def fast_dsp(acc: int, m: int, c: int, s: int, lmode: bool) -> int:
    """mat_mult.c with DSP: SMMLAR(acc << (ls + 1), m, c) (+ acc's sign and the shift for "r")."""
    t = s32(acc << ((s if lmode else 0) + 1))
    hi = s32(((c << 32) + t * m + (1 << 31)) >> 32)  # SMMLAR: rounded high word plus c
    if lmode:
        return hi
    return s32(hi + (t >> 31)) >> s


def fast_portable(acc: int, m: int, c: int, s: int, lmode: bool) -> int:
    """mat_mult.c in C: the high word of c * 2^32 + 2^31 + (acc << (ls + 1)) * m."""
    t = s32(acc << ((s if lmode else 0) + 1))
    hi = (((c << 32) | (1 << 31)) + t * m) >> 32
    if lmode:
        return hi
    return (hi + (acc >> 31)) >> s


def edge_accumulators(w: np.ndarray, bias: int, in_offset: int) -> list[int]:
    """The largest and smallest accumulator of one channel, and values around 0."""
    lo_x, hi_x = -128 + in_offset, 127 + in_offset
    top = bias + sum(int(v) * (hi_x if v > 0 else lo_x) for v in w)
    bottom = bias + sum(int(v) * (lo_x if v > 0 else hi_x) for v in w)
    return [top, bottom, 0, 1, -1, 2, -2, top // 2, bottom // 3]


@pytest.mark.parametrize("case", ["right", "left", "m0"])
@pytest.mark.parametrize("in_offset,out_offset", [(128, -128), (-127, 127), (5, -3)])
def test_plan_records_replay_tflm(case: str, in_offset: int, out_offset: int) -> None:
    rng = np.random.default_rng(len(case) * 1000 + in_offset + 200)
    out_c, k = 5, 27
    w = rng.integers(-127, 128, size=(out_c, k)).astype(np.int8)
    w[0] = 127  # the extreme row
    bias = rng.integers(-30000, 30000, size=out_c).astype(np.int32)
    if case == "left":
        mults, shifts = [int(v) for v in rng.integers(1 << 30, 1 << 31, size=out_c)], [0, 1, 2, 0, 1]
    else:
        mults = [int(v) for v in rng.integers(1 << 30, 1 << 31, size=out_c)]
        shifts = [-1, -7, -12, -20, -22]
        if case == "m0":
            mults[2], shifts[2] = 0, 0  # a flushed multiplier among right shifts
    p = plan(w, bias, mults, shifts, in_offset, out_offset, (-128, 127))
    assert p is not None and p.core == f"tinyml_mm_{'l' if case == 'left' else 'r'}_sat"
    rows = [(p.rq[i // 2][i % 2], *p.rq[i // 2][2 + 3 * (i % 2):5 + 3 * (i % 2)]) for i in range(out_c)]
    for i, (bias_f, m, c, s) in enumerate(rows):
        assert bias_f == int(bias[i]) + in_offset * int(w[i].astype(np.int64).sum())
        for acc in edge_accumulators(w[i], int(bias[i]), in_offset):
            want = max(-128, min(127, mbqm(acc, mults[i], shifts[i]) + out_offset))
            for fast in (fast_dsp, fast_portable):
                got = max(-128, min(127, fast(acc, int(m), int(c), int(s), case == "left")))
                assert got == want, (case, i, acc, fast.__name__)


def test_plan_refuses_what_it_cannot_prove() -> None:
    w = np.full((2, 1000), 127, dtype=np.int8)
    # |acc| reaches 2^30 with a right shift: SMMULR(2 acc) would overflow
    assert plan(w, np.array([(1 << 30) - 1000, 0]), [1 << 30] * 2, [-5] * 2, 128, 0, (-128, 127)) is None
    # a right shift of 30: the zero point times 2^30 leaves int32
    assert plan(w[:, :4], None, [1 << 30] * 2, [-30] * 2, 0, -2, (-128, 127)) is None
    assert plan(w[:, :4], None, [1 << 30] * 2, [-22] * 2, 0, -128, (-128, 127)) is not None
    # a left shift of 8 on an accumulator of ~3.2e7: acc << 9 leaves int32
    assert plan(w, None, [1 << 30] * 2, [8] * 2, 128, 0, (-128, 127)) is None
    # one channel with a right shift, one without
    small = np.ones((2, 4), dtype=np.int8)
    assert plan(small, None, [1 << 30] * 2, [-3, 1], 0, 0, (-128, 127)) is None
    assert plan(small, None, [1 << 30] * 2, [-3, -1], 0, 0, (-128, 127)) is not None


def test_interleave_pads_k_and_rows() -> None:
    w = np.arange(3 * 5, dtype=np.int8).reshape(3, 5)  # k = 5 -> 8, out_c = 3 -> 4
    got = interleave(w).reshape(2, 2, 2, 4)  # [pair][group][row][4]
    assert list(got[0, 0, 0]) == [0, 1, 2, 3] and list(got[0, 0, 1]) == [5, 6, 7, 8]
    assert list(got[0, 1, 0]) == [4, 0, 0, 0] and list(got[0, 1, 1]) == [9, 0, 0, 0]
    assert list(got[1, 0, 0]) == [10, 11, 12, 13] and not got[1, :, 1].any()
