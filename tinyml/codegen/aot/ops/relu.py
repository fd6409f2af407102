"""RELU and RELU6 as separate int8 ops, computed as TFLM's activations.cc does.

RELU: (x - in_zp) * in_scale / out_scale requantized, + out_zp, clamped to
[out_zp + round(0 / out_scale), 127]. RELU6: TFLM clamps the raw values to
[in_zp, in_zp + round(6 / in_scale)] without requantizing (it assumes output == input quantization).
"""

from __future__ import annotations

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops._common import int8_io
from tinyml.codegen.aot.quant import INT8_MAX, INT8_MIN, quantize_multiplier, tflite_round
from tinyml.codegen.aot.registry import register


def _q(value: float, scale: float, zero_point: int) -> int:
    """TFLM's float-side rounding: round(value / scale) with float32 division."""
    return zero_point + tflite_round(float(np.float32(value) / np.float32(scale)))


@register("RELU", "RELU6", inplace=True)
def emit(ctx: OpContext) -> str:
    x, y = int8_io(ctx)
    ctx.require(x.size == y.size, f"its output has {y.size} values for {x.size} inputs")
    if ctx.op.opcode == "RELU":
        mult, shift = quantize_multiplier(float(np.float32(x.scale)) / float(np.float32(y.scale)))
        fields = {"requantize": 1, "multiplier": mult, "shift": shift,
                  "act_min": max(INT8_MIN, _q(0.0, y.scale, y.zero_point)), "act_max": INT8_MAX}
    else:
        six = min(INT8_MAX, max(INT8_MIN, _q(6.0, x.scale, x.zero_point)))
        fields = {"requantize": 0, "multiplier": 0, "shift": 0, "act_min": x.zero_point, "act_max": six}
    p = ctx.params("tinyml_relu_params", {"size": x.size, "in_zero_point": x.zero_point,
                                          "out_zero_point": y.zero_point, **fields})
    return f"tinyml_relu_s8(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
