"""ADD (int8, fused activation, NHWC broadcasting): TFLM CalculateOpDataAdd at generation time.

Both inputs are shifted left by 20 bits and scaled to twice the larger input scale, summed, and
the sum scaled to the output: three "smaller than one" multipliers (micro/kernels/add_common.cc).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.quant import activation_range, quantize_multiplier
from tinyml.codegen.aot.registry import register

LEFT_SHIFT = 20


def add_params(s1: float, s2: float, s_out: float) -> dict[str, int]:
    """The three (multiplier, shift) pairs; scales are float32 widened to double as in TFLM."""
    twice_max = 2.0 * float(max(np.float32(s1), np.float32(s2)))
    m1, sh1 = quantize_multiplier(float(np.float32(s1)) / twice_max)
    m2, sh2 = quantize_multiplier(float(np.float32(s2)) / twice_max)
    mo, sho = quantize_multiplier(twice_max / ((1 << LEFT_SHIFT) * float(np.float32(s_out))))
    return {"left_shift": LEFT_SHIFT, "input1_multiplier": m1, "input1_shift": sh1,
            "input2_multiplier": m2, "input2_shift": sh2, "output_multiplier": mo, "output_shift": sho}


def broadcast4(shape1: tuple[int, ...], shape2: tuple[int, ...], out: tuple[int, ...]) -> dict[str, Any] | None:
    """Dims and per-input element strides over the 4-D output (0 where an input repeats), or None
    when the shapes are equal element for element. Raises ValueError beyond 4 dims."""
    if int(np.prod(shape1)) == int(np.prod(out)) and int(np.prod(shape2)) == int(np.prod(out)):
        return None
    if max(len(shape1), len(shape2), len(out)) > 4:
        raise ValueError("broadcasting over more than 4 dimensions")

    def pad(s: tuple[int, ...]) -> list[int]:
        return [1] * (4 - len(s)) + [int(d) for d in s]

    a, b, o = pad(shape1), pad(shape2), pad(out)

    def strides(s: list[int]) -> list[int]:
        st, acc = [0] * 4, 1
        for i in range(3, -1, -1):
            st[i] = acc if s[i] != 1 else 0
            acc *= s[i]
        return st

    for s in (a, b):
        for d_in, d_out in zip(s, o, strict=True):
            if d_in not in (1, d_out):
                raise ValueError(f"shapes {shape1} and {shape2} do not broadcast to {out}")
    return {"dims": o, "stride1": strides(a), "stride2": strides(b)}


def binary_common(ctx: OpContext) -> tuple[Any, Any, Any, dict[str, Any]]:
    """Checks shared by ADD and MUL; returns (input1, input2, output, shape fields)."""
    x1, x2, y = ctx.need_input(0, "first input"), ctx.need_input(1, "second input"), ctx.output()
    for t, what in ((x1, "first input"), (x2, "second input"), (y, "output")):
        ctx.require_dtype(t, what, "int8")
        ctx.require_quantized(t, what)
    try:
        bc = broadcast4(tuple(x1.shape), tuple(x2.shape), tuple(y.shape))
    except ValueError as exc:
        raise ctx.unsupported(str(exc)) from None
    fields: dict[str, Any] = {"size": y.size, "broadcast": 0 if bc is None else 1}
    if bc is not None:
        fields.update(bc)
    return x1, x2, y, fields


@register("ADD", activation_inputs=(0, 1), inplace=True)
def emit(ctx: OpContext) -> str:
    x1, x2, y, fields = binary_common(ctx)
    act = ctx.options.get("fused_activation_function", "NONE")
    try:
        act_min, act_max = activation_range(act, y.scale, y.zero_point)
    except ValueError:
        raise ctx.unsupported(f"fused activation {act}") from None
    fields.update({"input1_offset": -x1.zero_point, "input2_offset": -x2.zero_point,
                   "output_offset": y.zero_point})
    fields.update(add_params(x1.scale, x2.scale, y.scale))
    fields.update({"act_min": act_min, "act_max": act_max})
    name = ctx.params("tinyml_add_params", fields)
    return f"tinyml_add_s8(&{name}, {ctx.in_ptr(0)}, {ctx.in_ptr(1)}, {ctx.out_ptr(0)});"
