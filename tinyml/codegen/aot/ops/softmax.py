"""SOFTMAX (int8 -> int8): TFLM SoftmaxPrepare's parameters, computed at generation time.

TFLM (micro/kernels/softmax_common.cc, kernels/internal/quantization_util.cc):
``PreprocessSoftmaxScaling`` turns beta * input_scale into a Q31 multiplier and left shift for
input differences scaled to Q5.26, and ``CalculateInputRadius`` gives diff_min, below which
exp() rounds to zero.
"""

from __future__ import annotations

import math

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.quant import quantize_multiplier
from tinyml.codegen.aot.registry import register

SCALED_DIFF_INTEGER_BITS = 5


def input_radius(integer_bits: int, left_shift: int, total_signed_bits: int = 31) -> int:
    """CalculateInputRadius: the largest |input| (in the rescaled domain) worth computing."""
    # ((2^bits - 1) * 2^(31 - bits)) / 2^left_shift: powers of two, exact in double as in TFLM.
    max_rescaled = math.ldexp(float(((1 << integer_bits) - 1) << (total_signed_bits - integer_bits)), -left_shift)
    return int(math.floor(max_rescaled))


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """(input_multiplier, input_left_shift, diff_min) as TFLM computes them for int8 input."""
    real = float(np.float32(beta)) * float(np.float32(input_scale)) * float(1 << (31 - SCALED_DIFF_INTEGER_BITS))
    real = min(real, float((1 << 31) - 1))  # max_real_multiplier of the double-rounding build
    multiplier, left_shift = quantize_multiplier(real)
    diff_min = -input_radius(SCALED_DIFF_INTEGER_BITS, left_shift)
    return multiplier, left_shift, diff_min


@register("SOFTMAX", inplace=True)
def emit(ctx: OpContext) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    ctx.require_dtype(x, "input", "int8")
    ctx.require_dtype(y, "output", "int8")
    ctx.require_quantized(x, "input")
    ctx.require_quantized(y, "output")
    ctx.require(y.zero_point == -128 and np.float32(y.scale) == np.float32(1.0 / 256),
                f"its output is quantized with scale {y.scale} / zero point {y.zero_point}; "
                "TFLM requires 1/256 and -128")
    ctx.require(len(x.shape) >= 1, "its input is a scalar")
    depth = int(x.shape[-1])
    outer = int(np.prod(x.shape[:-1])) if len(x.shape) > 1 else 1
    multiplier, left_shift, diff_min = softmax_params(float(ctx.options.get("beta", 1.0)), x.scale)
    ctx.require(left_shift >= 0, f"beta * input scale is too small ({left_shift=})")
    name = ctx.params("tinyml_softmax_params", {
        "outer": outer, "depth": depth, "input_multiplier": multiplier,
        "input_left_shift": left_shift, "diff_min": diff_min,
    })
    return f"tinyml_softmax_s8(&{name}, {ctx.in_ptr(0)}, {ctx.out_ptr(0)});"
