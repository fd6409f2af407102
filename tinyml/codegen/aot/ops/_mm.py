"""The generation-time plan of the CONV_2D / FULLY_CONNECTED matrix-multiply fast path.

The C side (firmware/include/tinyml/kernels_fast.h, mat_mult.c, conv_fast.c,
fully_connected_fast.c) checks nothing at run time: this module decides per layer whether the
fast path is exact for *every* input, precomputes its constants and emits them, with the
reference params struct for AVR / TINYML_NO_FAST builds, as

    #if defined(TINYML_FAST)   fast params + direct call of tinyml_{conv,fc}_mm_s8
    #else                      reference params + tinyml_{conv,fully_connected}_s8
    #endif

so one model.c still serves every target, and each build holds one copy of the weights.

Why the fast arithmetic equals TFLM's (acc = bias + sum w * (x + in_offset), then
MultiplyByQuantizedMultiplier(acc, m, shift) + out_offset, clamped):

- Offset folding: bias' = bias + in_offset * sum(w) gives bias' + sum w * x == acc as integers; a
  padded tap holds x = -in_offset (the zero point) so it adds 0, as TFLM skips it. Every partial
  sum stays below 2^31 in magnitude (checked below), so int32 never wraps (C has no UB either).
- Right shift s >= 1 (variant "r"): y = floor((acc * m + 2^30) / 2^31) is gemmlowp's
  SaturatingRoundingDoublingHighMul (m >= 0, so the saturating case cannot occur); with DSP it is
  SMMULR(2 * acc, m), which needs |acc| < 2^30. RoundingDivideByPOT(y, s) + out_offset equals
  (y + 2^(s-1) + out_offset * 2^s + (y < 0 ? -1 : 0)) >> s: adding a multiple of 2^s commutes
  with the floor shift, and (y + 2^(s-1) - [y < 0]) >> s is round-half-away-from-zero, which is
  what RoundingDivideByPOT computes (mask/threshold form). Checked: no int32 overflow for the
  largest |y| the layer can produce. A channel with m == 0 gives y = 0 whatever s; it takes s = 1.
  The kernels add y + c in one instruction (SMMLAR with DSP; without, the high word of the 64-bit
  c * 2^32 + 2^31 + 2 * acc * m) and use acc < 0 for y < 0: with m >= 0 they differ only when
  y == 0 > acc, and then (c - 1) >> s == c >> s since c = 2^(s-1) + out_offset * 2^s.
- Left shift l >= 0 and no right shift (variant "l"): y = SRDHM(acc * 2^l, m), exact when
  |acc| * 2^(l+1) < 2^31 (TFLM computes acc * (1 << l) in int32 too), then y + out_offset.
- A layer whose channels need both kinds, or any bound that fails, keeps the reference loop.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tinyml.codegen.aot.context import OpContext, c_literal
from tinyml.codegen.aot.quant import conv_multipliers

COL_MAX = 1152  # TINYML_COL_MAX in kernels_fast.h: int16 elements of the DSP col buffer
INT31 = 1 << 31


@dataclass
class MMPlan:
    k: int
    k4: int
    out_c: int
    filter: np.ndarray  # int8, padded and row-pair interleaved (kernels_fast.h)
    rq: np.ndarray  # int32 [(out_c + 1) // 2, 8]
    core: str  # tinyml_mm_{r,l}_{sat,clamp}
    act_min: int
    act_max: int


def interleave(w: np.ndarray) -> np.ndarray:
    """[out_c][k] int8 -> padded to k4 and even rows, row pairs interleaved by groups of 4."""
    out_c, k = w.shape
    k4, oc2 = -(-k // 4) * 4, out_c + (out_c & 1)
    pad = np.zeros((oc2, k4), dtype=np.int8)
    pad[:out_c, :k] = w
    return pad.reshape(oc2 // 2, 2, k4 // 4, 4).transpose(0, 2, 1, 3).reshape(-1)


def plan(w: np.ndarray, bias: np.ndarray | None, mults: list[int], shifts: list[int], in_offset: int,
         out_offset: int, act: tuple[int, int]) -> MMPlan | None:
    """The fast-path plan of a conv-like layer with filter ``w`` [out_c][k], or None when some
    input could make the fast arithmetic differ from TFLM's (then the reference loop runs)."""
    out_c, k = w.shape
    k4 = -(-k // 4) * 4
    w64 = w.astype(np.int64)
    b = [0] * out_c if bias is None else [int(v) for v in np.asarray(bias).reshape(-1)]
    m = [int(v) for v in np.broadcast_to(np.asarray(mults, dtype=np.int64), (out_c,))]
    sh = [int(v) for v in np.broadcast_to(np.asarray(shifts, dtype=np.int64), (out_c,))]
    sum_w = [int(v) for v in w64.sum(axis=1)]
    sum_abs = [int(v) for v in np.abs(w64).sum(axis=1)]
    x_abs = max(abs(-128 + in_offset), abs(127 + in_offset))  # |x + in_offset|
    lmode = all(sh[i] >= 0 or m[i] == 0 for i in range(out_c))
    if not lmode and not all(sh[i] < 0 or m[i] == 0 for i in range(out_c)):
        return None  # channels with and without a right shift
    rows: list[list[int]] = []
    for i in range(out_c):
        bias_f = b[i] + in_offset * sum_w[i]
        if abs(bias_f) + 128 * sum_abs[i] >= INT31:  # partial sums of bias' + w * x
            return None
        acc_max = abs(b[i]) + sum_abs[i] * x_abs
        if lmode:
            s = 0 if m[i] == 0 else sh[i]
            if acc_max << (s + 1) >= INT31:
                return None
            c = out_offset
        else:
            s = 1 if m[i] == 0 else -sh[i]
            if s > 31 or acc_max >= 1 << 30:
                return None
            y_max = (acc_max * m[i] + (1 << 30)) // INT31 + 1
            c = (1 << (s - 1)) + out_offset * (1 << s)
            if y_max + (1 << (s - 1)) + 1 + abs(out_offset) * (1 << s) >= INT31:
                return None
        rows.append([bias_f, m[i], c, s])
    if out_c & 1:
        rows.append([0, 0, out_offset if lmode else 1 + 2 * out_offset, 0 if lmode else 1])  # output dropped
    # per row pair: bias0 bias1 mult0 c0 s0 mult1 c1 s1
    rq = np.array([[rows[i][0], rows[i + 1][0], *rows[i][1:], *rows[i + 1][1:]] for i in range(0, len(rows), 2)],
                  dtype=np.int64).astype(np.int32)
    lo, hi = act
    core = f"tinyml_mm_{'l' if lmode else 'r'}_{'sat' if lo <= -128 and hi >= 127 else 'clamp'}"
    return MMPlan(k=k, k4=k4, out_c=out_c, filter=interleave(w), rq=rq, core=core, act_min=lo, act_max=hi)


FC_SMALL_MAX_DEPTH = 4  # TINYML_FC_SMALL_MAX_DEPTH in kernels_fast.h


def small_records(p: MMPlan, w: np.ndarray) -> np.ndarray:
    """The tinyml_fc_small_params records of a fully-connected plan with depth <= 4: per unit
    bias' mult c s (the plan's requantization, same proofs: only the summation order of
    bias' + w * x changes) then the unit's ``depth`` weights, as int32 [units][4 + depth]."""
    units, depth = w.shape
    rq = p.rq.astype(np.int64)
    rows = [[rq[i // 2][i % 2], *rq[i // 2][2 + 3 * (i % 2):5 + 3 * (i % 2)]] for i in range(units)]
    return np.array([r + [int(v) for v in w[i]] for i, r in enumerate(rows)], dtype=np.int64).astype(np.int32)


def mm_fields(ctx: OpContext, p: MMPlan) -> dict[str, Any]:
    """The tinyml_mm_params initializer (a nested designated initializer) of a plan."""
    filt = ctx.const_array("filter_mm", "int8_t", p.filter)
    rq = ctx.const_array("rq_mm", "int32_t", p.rq.reshape(-1))
    return {"k4": p.k4, "out_c": p.out_c, "act_min": p.act_min, "act_max": p.act_max, "filter": filt, "rq": rq}


def struct_literal(fields: dict[str, Any]) -> str:
    return "{" + ", ".join(f".{k} = {c_literal(v, 'int32_t')}" for k, v in fields.items()) + "}"


def with_fast(ctx: OpContext, emit_reference: Callable[[], str], emit_fast: Callable[[], str | None]) -> str:
    """Run emit_reference() and emit_fast() (each declares its constants and returns its C call)
    and keep both behind #if defined(TINYML_FAST). emit_fast() may return None: then only the
    reference declarations and call stay, unconditionally."""
    unit = ctx.unit
    start, cached = len(unit.decls), set(unit.tensor_arrays)
    ref_call = emit_reference()
    ref_decls = unit.decls[start:]
    del unit.decls[start:]
    new_cached = set(unit.tensor_arrays) - cached
    fast_call = emit_fast()
    if fast_call is None:
        unit.decls[start:start] = ref_decls
        return ref_call
    fast_decls = unit.decls[start:]
    del unit.decls[start:]
    for index in new_cached:  # declared inside #else: later ops must declare their own copy
        del unit.tensor_arrays[index]
    if "tinyml_kernels_fast_h" not in unit.names:
        unit.names.add("tinyml_kernels_fast_h")
        unit.decls.append('#include "tinyml/kernels_fast.h"')
    unit.decls.append("#if defined(TINYML_FAST)\n" + "\n\n".join(fast_decls) + "\n#else\n" + "\n\n".join(ref_decls)
                      + "\n#endif")
    return f"#if defined(TINYML_FAST)\n{fast_call}\n#else\n{ref_call}\n#endif"


def plan_for(ctx: OpContext, x: Any, y: Any, act: tuple[int, int]) -> MMPlan | None:
    """plan() for the op of ``ctx``: filter input 1 flattened to [out_c][k], bias input 2."""
    w = ctx.need_input(1, "filter")
    q = w.quantization
    if w.data is None or q is None or any(int(z) != 0 for z in q.zero_point):
        return None
    b = ctx.input(2)
    mults, shifts = conv_multipliers(x.scale, q.scale, y.scale)
    w2d = np.asarray(w.data, dtype=np.int8).reshape(w.shape[0], -1)
    return plan(w2d, None if b is None else b.data, mults, shifts, -int(x.zero_point), int(y.zero_point), act)
