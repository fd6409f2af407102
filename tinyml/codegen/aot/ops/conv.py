"""CONV_2D: int8, per-channel or per-tensor weights, stride, SAME/VALID, dilation, groups."""

from __future__ import annotations

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops import _mm
from tinyml.codegen.aot.ops._common import fused_activation, int8_io, row_overlap, spatial, weights_and_bias
from tinyml.codegen.aot.registry import register
from tinyml.model.tflite import Model, Operator


def _overlap(model: Model, op: Operator) -> int | None:
    return row_overlap(model, op, model.tensors[op.inputs[1]].shape[1], int(op.options.get("dilation_h_factor", 1)))


@register("CONV_2D", overlap=_overlap)
def emit(ctx: OpContext) -> str:
    x, y = int8_io(ctx)
    w = ctx.need_input(1, "filter")
    ctx.require(len(w.shape) == 4 and len(x.shape) == 4, f"its filter {w.shape} / input {x.shape} are not 4-D")
    out_c, k_h, k_w, k_c = w.shape
    batches, in_h, in_w, in_c = x.shape
    ctx.require(k_c > 0 and in_c % k_c == 0 and out_c % (in_c // k_c) == 0,
                f"its filter depth {k_c} does not divide the input depth {in_c} into groups")
    ctx.require(len(y.shape) == 4 and y.shape[0] == batches and y.shape[3] == out_c,
                f"its output shape {y.shape} does not match the filter {w.shape}")
    dh, dw = int(ctx.options.get("dilation_h_factor", 1)), int(ctx.options.get("dilation_w_factor", 1))
    geo = spatial(ctx, x, y, k_h, k_w, dh, dw)
    lo, hi = fused_activation(ctx, y)
    geo_fields = {"stride_h": geo["stride_h"], "stride_w": geo["stride_w"], "dilation_h": dh, "dilation_w": dw,
                  "pad_h": geo["pad_h"], "pad_w": geo["pad_w"]}

    def reference() -> str:
        q = weights_and_bias(ctx, x, y, channels=out_c, axis=0)
        p = ctx.params("tinyml_conv_params", {
            "batches": batches, "in_h": in_h, "in_w": in_w, "in_c": in_c,
            "out_h": y.shape[1], "out_w": y.shape[2], "out_c": out_c, "k_h": k_h, "k_w": k_w, "k_c": k_c,
            **geo_fields, "in_offset": -x.zero_point, "out_offset": y.zero_point,
            "act_min": lo, "act_max": hi, "per_channel": q["per_channel"],
            "filter": q["filter"], "bias": q["bias"], "multiplier": q["multiplier"], "shift": q["shift"],
        })
        return f"tinyml_conv_s8(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"

    def fast() -> str | None:
        plan = _mm.plan_for(ctx, x, y, (lo, hi)) if k_c == in_c else None
        if plan is None:
            return None
        # DSP col buffer (TINYML_COL_MAX int16): 2 bytes per input and pixel, plus a k4-byte int8
        # patch when taps do not start groups of 4 (in_c % 4 != 0)
        patch = 0 if in_c % 4 == 0 else plan.k4
        if 2 * plan.k4 + patch > 2 * _mm.COL_MAX:
            return None
        p = ctx.params("tinyml_conv_mm_params", {
            "mm": _mm.struct_literal(_mm.mm_fields(ctx, plan)), "core": plan.core,
            "batches": batches, "in_h": in_h, "in_w": in_w, "in_c": in_c, "out_h": y.shape[1], "out_w": y.shape[2],
            "k_h": k_h, "k_w": k_w, **geo_fields, "k": plan.k, "pad_value": x.zero_point,
            "pairs": int(4 * plan.k4 + patch <= 2 * _mm.COL_MAX),
        }, what="mm")
        return f"tinyml_conv_mm_s8(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"

    return _mm.with_fast(ctx, reference, fast)
