"""PAD and PADV2 (rank <= 4) for int8, int32 and float32 tensors.

The pad value is what TFLM uses: PADV2's constant, else the output zero point for int8, else 0.
"""

from __future__ import annotations

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.registry import register
from tinyml.model.tflite import dtype_to_numpy


@register("PAD", "PADV2")
def emit(ctx: OpContext) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    ctx.require_dtype(x, "input", "int8", "int32", "float32")
    ctx.require(y.dtype == x.dtype, f"its output is {y.dtype}, its input {x.dtype}")
    if x.dtype == "int8":
        ctx.require_quantized(x, "input")
        ctx.require_quantized(y, "output")
        ctx.require(x.scale == y.scale and x.zero_point == y.zero_point,
                    "its input and output are quantized differently (TFLM requires them equal)")
    paddings = ctx.need_input(1, "paddings")
    ctx.require(paddings.is_constant and paddings.data is not None, "its paddings are not constant")
    assert paddings.data is not None
    pads = np.asarray(paddings.data, dtype=np.int64).reshape(-1, 2)
    rank = len(x.shape)
    ctx.require(1 <= rank <= 4 and pads.shape[0] == rank, f"it pads a {rank}-D tensor (1 to 4 supported)")
    ctx.require(bool((pads >= 0).all()), "its paddings are negative")
    in_dims = [1] * (4 - rank) + list(x.shape)
    before = [0] * (4 - rank) + [int(v) for v in pads[:, 0]]
    after = [0] * (4 - rank) + [int(v) for v in pads[:, 1]]
    out_dims = [d + a + b for d, a, b in zip(in_dims, before, after, strict=True)]
    ctx.require(out_dims[4 - rank:] == list(y.shape), f"its output shape {y.shape} is not the padded {out_dims}")

    np_type = dtype_to_numpy(x.dtype)
    value = np.zeros(1, dtype=np_type)
    constant = ctx.input(2) if ctx.op.opcode == "PADV2" else None
    if constant is not None:
        ctx.require(constant.is_constant and constant.data is not None and constant.dtype == x.dtype,
                    "its constant value is not a constant of the input type")
        assert constant.data is not None
        value[0] = constant.data.reshape(-1)[0]
    elif x.dtype == "int8":
        value[0] = y.zero_point
    raw = list(value.tobytes()) + [0] * (4 - value.itemsize)
    p = ctx.params("tinyml_pad_params", {"in_dims": in_dims, "out_dims": out_dims, "before": before,
                                         "elem_bytes": value.itemsize, "pad_value": raw})
    return f"tinyml_pad(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
