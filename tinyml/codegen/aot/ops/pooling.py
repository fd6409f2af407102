"""AVERAGE_POOL_2D and MAX_POOL_2D: int8 (the output keeps the input's scale and zero point)."""

from __future__ import annotations

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops._common import fused_activation, int8_io, row_overlap, spatial
from tinyml.codegen.aot.registry import register
from tinyml.model.tflite import Model, Operator

KERNELS = {"AVERAGE_POOL_2D": "tinyml_avg_pool_s8", "MAX_POOL_2D": "tinyml_max_pool_s8"}


def _overlap(model: Model, op: Operator) -> int | None:
    return row_overlap(model, op, int(op.options.get("filter_height", 1)), 1)


@register("AVERAGE_POOL_2D", "MAX_POOL_2D", overlap=_overlap)
def emit(ctx: OpContext) -> str:
    x, y = int8_io(ctx)
    k_h, k_w = int(ctx.options.get("filter_height", 1)), int(ctx.options.get("filter_width", 1))
    ctx.require(k_h > 0 and k_w > 0, f"its window {k_h}x{k_w} is empty")
    geo = spatial(ctx, x, y, k_h, k_w)
    ctx.require(x.shape[0] == y.shape[0] and x.shape[3] == y.shape[3],
                f"its output shape {y.shape} does not match its input {x.shape}")
    lo, hi = fused_activation(ctx, y)
    p = ctx.params("tinyml_pool_params", {
        "batches": x.shape[0], "in_h": x.shape[1], "in_w": x.shape[2], "channels": x.shape[3],
        "out_h": y.shape[1], "out_w": y.shape[2], "k_h": k_h, "k_w": k_w, **geo, "act_min": lo, "act_max": hi,
    })
    return f"{KERNELS[ctx.op.opcode]}(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
