"""DEPTHWISE_CONV_2D: int8, any depth multiplier, stride, SAME/VALID, dilation."""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops._common import fused_activation, int8_io, row_overlap, spatial, weights_and_bias
from tinyml.codegen.aot.quant import conv_multipliers
from tinyml.codegen.aot.registry import register
from tinyml.model.tflite import Model, Operator, Tensor

# Words per channel of the 3x3 fast path's constants (see dw3_records and depthwise_conv_fast.c).
DW3_WORDS = 6
# The C side's limit (kernels_fast.h TINYML_DW_MAX_CH: its zero-point row): a packed layer must
# never fall back, since its builds hold no filter / bias / multiplier arrays.
DW3_MAX_CH = 256


def _overlap(model: Model, op: Operator) -> int | None:
    return row_overlap(model, op, model.tensors[op.inputs[1]].shape[1], int(op.options.get("dilation_h_factor", 1)))


def _s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= 1 << 31 else v


def _word(b0: int, b1: int, b2: int, b3: int) -> int:
    return _s32((b0 & 255) | (b1 & 255) << 8 | (b2 & 255) << 16 | (b3 & 255) << 24)


def dw3_records(filt: np.ndarray, bias: np.ndarray | None, mults: list[int], shifts: list[int], in_offset: int,
                out_offset: int) -> list[int] | None:
    """Per-channel constants of the 3x3 depth-multiplier-1 fast path, or None when a channel's
    requantization is outside its exact domain. Six int32 words per channel c (w = filter[ky][kx]):

    - wa = bytes (w00, w01, w10, w11): SXTB16 gives (w00, w10), with ROR 8 (w01, w11): the
      halfword pairs that multiply (row 0, row 1) input pairs with SMLAD;
    - wb = bytes (w02, w20, w12, w21): (w02, w12) and (w20, w21) the same way;
    - bias2 = 2 (bias + in_offset * sum(w)): the kernel multiplies raw inputs x (padding holds the
      input zero point, so a padded tap adds w * zp + w * in_offset = 0, as TFLM's skipped tap) and
      accumulates twice the sum (doubled weights) so that SMMULR of the accumulator is
      gemmlowp's SaturatingRoundingDoublingHighMul;
    - m: the multiplier;
    - rnd = 2^(rs-1) + out_offset * 2^rs, rs = the right shift: ((y + rnd + (y < 0 ? -1 : 0)) >> rs)
      is RoundingDivideByPOT(y, rs) + out_offset (floor division by 2^rs moves an exact multiple
      of it out unchanged);
    - wc = (2 w22) << 16 | rs.

    Exact domain: rs in [1, 31] (no left shift), |bias| + 9 * 255 * 128 < 2^29 (so |accumulator| <
    2^29 for every input and |y| < 2^29), and |y + rnd - 1| < 2^31 (no wrap in the rounding add)."""
    taps, ch = filt.shape[0] * filt.shape[1], filt.shape[2]
    per = len(mults) > 1
    out: list[int] = []
    for c in range(ch):
        w = filt[:, :, c].astype(np.int64)
        m, s = mults[c if per else 0], shifts[c if per else 0]
        rs = -s
        b = int(bias[c]) if bias is not None else 0
        if not 1 <= rs <= 31 or abs(b) + taps * 255 * 128 >= 1 << 29:
            return None
        rnd = (1 << (rs - 1)) + out_offset * (1 << rs)
        if abs(rnd) + (1 << 29) + 1 >= 1 << 31:
            return None
        out += [_word(w[0, 0], w[0, 1], w[1, 0], w[1, 1]), _word(w[0, 2], w[2, 0], w[1, 2], w[2, 1]),
                2 * (b + in_offset * int(w.sum())), m, rnd, _s32(((2 * int(w[2, 2])) & 0xFFFF) << 16 | rs)]
    return out


def _packed(ctx: OpContext, x: Tensor, y: Tensor, w: Tensor, geo: dict[str, int], dh: int, dw: int) -> str | None:
    """The 3x3 fast path's constants (flash, only in builds that have the fast kernels), or None
    when the layer is not of that shape class: 3x3, depth multiplier 1, no dilation, equal
    strides 1 or 2."""
    _, k_h, k_w, out_c = w.shape
    stride = geo["stride_w"]
    if (k_h, k_w) != (3, 3) or out_c != x.shape[3] or (dh, dw) != (1, 1) or geo["stride_h"] != stride \
            or stride not in (1, 2) or w.data is None or out_c > DW3_MAX_CH:
        return None
    q = w.quantization
    assert q is not None
    mults, shifts = conv_multipliers(x.scale, q.scale, y.scale)
    b = ctx.input(2)
    recs = dw3_records(np.asarray(w.data).reshape(3, 3, out_c), None if b is None else np.asarray(b.data).reshape(-1),
                       mults, shifts, -x.zero_point, y.zero_point)
    if recs is None:
        return None
    name = ctx.const_array("dw3", "int32_t", recs)
    # only the fast kernels read it (AVR keeps the reference loop and its flash)
    ctx.unit.decls[-1] = f"#ifdef TINYML_DW_PACKED\n{ctx.unit.decls[-1]}\n#endif"
    return f"TINYML_DW_PACK({name})"


def _reference_arrays_only_without_fast_kernels(ctx: OpContext, fields: dict[str, Any]) -> None:
    """A packed layer's builds with the fast kernels read only packed[]: its filter, bias,
    multiplier and shift arrays are declared for the other builds only (AVR), and NULL in the
    params otherwise, so flash holds one copy of the layer's constants. A filter or bias tensor
    that another operator reads too keeps its array everywhere."""
    users: dict[int, int] = {}
    for op in ctx.model.operators:
        for t in set(op.inputs):
            users[t] = users.get(t, 0) + 1
    own = {"filter": ctx.op.inputs[1], "bias": ctx.op.inputs[2] if len(ctx.op.inputs) > 2 else -1}
    for key in ("filter", "bias", "multiplier", "shift"):
        name = fields[key]
        if name is None or (key in own and users.get(own[key], 0) != 1):
            continue
        head = f" {name}["
        idx = [i for i, d in enumerate(ctx.unit.decls) if d.startswith("static ") and head in d.split("=", 1)[0]]
        if len(idx) != 1:
            continue
        ctx.unit.decls[idx[0]] = f"#ifndef TINYML_DW_PACKED\n{ctx.unit.decls[idx[0]]}\n#endif"
        fields[key] = f"TINYML_DW_REF({name})"


@register("DEPTHWISE_CONV_2D", overlap=_overlap)
def emit(ctx: OpContext) -> str:
    x, y = int8_io(ctx)
    w = ctx.need_input(1, "filter")
    ctx.require(len(w.shape) == 4 and w.shape[0] == 1 and len(x.shape) == 4,
                f"its filter {w.shape} / input {x.shape} are not depthwise 4-D")
    _, k_h, k_w, out_c = w.shape
    batches, in_h, in_w, in_c = x.shape
    # TFLM derives the multiplier from the shapes too (the option is sometimes 0).
    ctx.require(in_c > 0 and out_c % in_c == 0, f"its filter has {out_c} channels for {in_c} input channels")
    ctx.require(len(y.shape) == 4 and y.shape[0] == batches and y.shape[3] == out_c,
                f"its output shape {y.shape} does not match the filter {w.shape}")
    dh, dw = int(ctx.options.get("dilation_h_factor", 1)), int(ctx.options.get("dilation_w_factor", 1))
    geo = spatial(ctx, x, y, k_h, k_w, dh, dw)
    q = weights_and_bias(ctx, x, y, channels=out_c, axis=3)
    lo, hi = fused_activation(ctx, y)
    fields: dict[str, Any] = {
        "batches": batches, "in_h": in_h, "in_w": in_w, "in_c": in_c,
        "out_h": y.shape[1], "out_w": y.shape[2], "out_c": out_c, "depth_multiplier": out_c // in_c,
        "k_h": k_h, "k_w": k_w, "stride_h": geo["stride_h"], "stride_w": geo["stride_w"],
        "dilation_h": dh, "dilation_w": dw, "pad_h": geo["pad_h"], "pad_w": geo["pad_w"],
        "in_offset": -x.zero_point, "out_offset": y.zero_point, "act_min": lo, "act_max": hi,
        "per_channel": q["per_channel"],
        "filter": q["filter"], "bias": q["bias"], "multiplier": q["multiplier"], "shift": q["shift"],
    }
    packed = _packed(ctx, x, y, w, geo, dh, dw)
    if packed is not None:
        fields["packed"] = packed
        _reference_arrays_only_without_fast_kernels(ctx, fields)
    p = ctx.params("tinyml_depthwise_conv_params", fields)
    return f"tinyml_depthwise_conv_s8(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
