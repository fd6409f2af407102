"""SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND (4-D, or 3-D with one spatial dim): what the TFLite
converter wraps around a SAME-padded dilated convolution. Pure data movement, any element type."""

from __future__ import annotations

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.registry import register


def _const(ctx: OpContext, i: int, what: str) -> np.ndarray:
    t = ctx.need_input(i, what)
    ctx.require(t.is_constant and t.data is not None, f"its {what} are not constant")
    assert t.data is not None
    return np.asarray(t.data, dtype=np.int64).reshape(-1)


def _nhwc(shape: tuple[int, ...]) -> tuple[int, int, int, int]:
    if len(shape) == 3:  # (N, H, C): TFLM treats it as (N, H, 1, C)
        return shape[0], shape[1], 1, shape[2]
    n, h, w, c = shape
    return n, h, w, c


@register("SPACE_TO_BATCH_ND", "BATCH_TO_SPACE_ND")
def emit(ctx: OpContext) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    ctx.require(len(x.shape) in (3, 4) and len(y.shape) == len(x.shape), f"its input {x.shape} is not 3-D or 4-D")
    ctx.require(x.dtype == y.dtype, f"its output is {y.dtype}, its input {x.dtype}")
    if x.dtype == "int8":
        ctx.require(x.scale == y.scale and x.zero_point == y.zero_point,
                    "its input and output are quantized differently")
    spatial = len(x.shape) - 2
    block = _const(ctx, 1, "block shape")
    pads = _const(ctx, 2, "paddings" if ctx.op.opcode == "SPACE_TO_BATCH_ND" else "crops").reshape(-1, 2)
    ctx.require(block.size == spatial and pads.shape[0] == spatial and bool((block > 0).all()),
                f"its block shape {block.tolist()} / paddings {pads.tolist()} do not match {spatial} spatial dims")
    block_h, block_w = int(block[0]), int(block[1]) if spatial == 2 else 1
    top, left = int(pads[0, 0]), int(pads[1, 0]) if spatial == 2 else 0
    ib, ih, iw, ic = _nhwc(x.shape)
    ob, oh, ow, oc = _nhwc(y.shape)
    big, small = (ob, ib) if ctx.op.opcode == "SPACE_TO_BATCH_ND" else (ib, ob)
    ctx.require(ic == oc and big == small * block_h * block_w,
                f"its output {y.shape} does not match its input {x.shape} and block {block.tolist()}")
    # TFLM's SPACE_TO_BATCH_ND never sets its pad value (SpaceToBatchParams.output_offset stays as
    # the zeroed persistent buffer left it), so int8 padding is 0, not the zero point. We match it.
    pad_value = 0
    p = ctx.params("tinyml_space_batch_params", {
        "in_batch": ib, "in_h": ih, "in_w": iw, "out_batch": ob, "out_h": oh, "out_w": ow,
        "block_h": block_h, "block_w": block_w, "top": top, "left": left,
        "depth_bytes": ic * x.itemsize, "pad_value": pad_value,
    })
    fn = "tinyml_space_to_batch_nd" if ctx.op.opcode == "SPACE_TO_BATCH_ND" else "tinyml_batch_to_space_nd"
    return f"{fn}(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
