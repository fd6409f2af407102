"""MEAN (int8, any axes, keep_dims or not): TFLM reference_ops::QuantizedMeanOrSum.

Prepare: QuantizeMultiplier(input_scale / output_scale) (micro/kernels/reduce_common.cc). Eval
folds 1/count into that multiplier: with shift = min(floor(log2(count)), 32, 31 + shift0), the
multiplier becomes (m0 << shift) / count and the shift shift0 - shift. Done here once.
"""

from __future__ import annotations

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.quant import quantize_multiplier
from tinyml.codegen.aot.registry import register


def mean_multiplier(input_scale: float, output_scale: float, count: int) -> tuple[int, int]:
    m, s = quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))
    shift = min(count.bit_length() - 1, 32, 31 + s)
    return (m << shift) // count, s - shift


@register("MEAN")
def emit(ctx: OpContext) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    axis_t = ctx.need_input(1, "axis")
    for t, what in ((x, "input"), (y, "output")):
        ctx.require_dtype(t, what, "int8")
        ctx.require_quantized(t, what)
    ctx.require(axis_t.data is not None, "its axis tensor is not constant")
    ctx.require(1 <= len(x.shape) <= 4, f"its input has {len(x.shape)} dimensions (the kernel takes 1 to 4)")
    rank = len(x.shape)
    axes = sorted({int(a) % rank for a in np.asarray(axis_t.data).reshape(-1)})
    in_dims = [1] * (4 - rank) + [int(d) for d in x.shape]
    offset = 4 - rank
    out_dims = [1 if (i - offset) in axes else d for i, d in enumerate(in_dims)]
    red_dims = [d if (i - offset) in axes else 1 for i, d in enumerate(in_dims)]
    count = int(np.prod(red_dims))
    n_out = int(np.prod(out_dims))
    ctx.require(n_out == y.size, f"its output has {y.size} elements, expected {n_out}")
    multiplier, shift = mean_multiplier(x.scale, y.scale, count)
    name = ctx.params("tinyml_mean_params", {
        "in_dims": in_dims, "out_dims": out_dims, "red_dims": red_dims,
        "input_zero_point": x.zero_point, "output_zero_point": y.zero_point,
        "multiplier": multiplier, "shift": shift,
    })
    return f"tinyml_mean_s8(&{name}, {ctx.in_ptr(0)}, {ctx.out_ptr(0)});"
