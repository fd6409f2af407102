"""LOGISTIC (int8): TFLM's Prepare parameters (micro/kernels/logistic_common.cc).

The input, minus its zero point, is rescaled to Q4.27 by a multiplier taken from ``frexp`` of
input_scale * 2^27; inputs beyond ``CalculateInputRadius(4, shift)`` saturate. Output scale 1/256,
zero point -128.
"""

from __future__ import annotations

import math

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops.softmax import input_radius
from tinyml.codegen.aot.quant import tflite_round
from tinyml.codegen.aot.registry import register

INPUT_INTEGER_BITS = 4


def sigmoid_params(input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, input_range_radius), shared by LOGISTIC and TANH."""
    real = float(np.float32(input_scale)) * float(1 << (31 - INPUT_INTEGER_BITS))
    q, left_shift = math.frexp(real)
    multiplier = tflite_round(q * (1 << 31))
    return multiplier, left_shift, input_radius(INPUT_INTEGER_BITS, left_shift)


def emit_sigmoid(ctx: OpContext, kernel: str, out_scale: float, out_zero_point: int) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    for t, what in ((x, "input"), (y, "output")):
        ctx.require_dtype(t, what, "int8")
        ctx.require_quantized(t, what)
    ctx.require(y.zero_point == out_zero_point and np.float32(y.scale) == np.float32(out_scale),
                f"its output is quantized with scale {y.scale} / zero point {y.zero_point}; "
                f"the int8 kernel produces {out_scale} / {out_zero_point}")
    multiplier, left_shift, radius = sigmoid_params(x.scale)
    ctx.require(0 <= left_shift <= 30 and multiplier < 2**31, f"its input scale {x.scale} is out of range")
    name = ctx.params("tinyml_sigmoid_params", {
        "size": x.size, "input_zero_point": x.zero_point, "input_range_radius": radius,
        "input_multiplier": multiplier, "input_left_shift": left_shift,
    })
    return f"{kernel}(&{name}, {ctx.in_ptr(0)}, {ctx.out_ptr(0)});"


@register("LOGISTIC", inplace=True)
def emit(ctx: OpContext) -> str:
    return emit_sigmoid(ctx, "tinyml_logistic_s8", 1.0 / 256, -128)
