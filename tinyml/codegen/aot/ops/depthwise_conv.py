"""DEPTHWISE_CONV_2D: int8, any depth multiplier, stride, SAME/VALID, dilation."""

from __future__ import annotations

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops._common import fused_activation, int8_io, row_overlap, spatial, weights_and_bias
from tinyml.codegen.aot.registry import register
from tinyml.model.tflite import Model, Operator


def _overlap(model: Model, op: Operator) -> int | None:
    return row_overlap(model, op, model.tensors[op.inputs[1]].shape[1], int(op.options.get("dilation_h_factor", 1)))


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
    p = ctx.params("tinyml_depthwise_conv_params", {
        "batches": batches, "in_h": in_h, "in_w": in_w, "in_c": in_c,
        "out_h": y.shape[1], "out_w": y.shape[2], "out_c": out_c, "depth_multiplier": out_c // in_c,
        "k_h": k_h, "k_w": k_w, "stride_h": geo["stride_h"], "stride_w": geo["stride_w"],
        "dilation_h": dh, "dilation_w": dw, "pad_h": geo["pad_h"], "pad_w": geo["pad_w"],
        "in_offset": -x.zero_point, "out_offset": y.zero_point, "act_min": lo, "act_max": hi,
        "per_channel": q["per_channel"],
        "filter": q["filter"], "bias": q["bias"], "multiplier": q["multiplier"], "shift": q["shift"],
    })
    return f"tinyml_depthwise_conv_s8(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
