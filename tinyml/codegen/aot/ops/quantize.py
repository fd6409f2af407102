"""QUANTIZE: float32 -> int8 at a --float-io model's input (TFLM AffineQuantize: roundf(x / scale)
+ zero point), and int8 -> int8 requantization (TFLM Requantize with QuantizeMultiplier of
input_scale / output_scale, micro/kernels/quantize_common.cc)."""

from __future__ import annotations

import numpy as np

from tinyml.codegen.aot.context import OpContext, c_literal
from tinyml.codegen.aot.quant import quantize_multiplier
from tinyml.codegen.aot.registry import register


def requantize_multiplier(input_scale: float, output_scale: float) -> tuple[int, int]:
    return quantize_multiplier(float(np.float32(input_scale)) / float(np.float32(output_scale)))


@register("QUANTIZE")
def emit(ctx: OpContext) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    ctx.require_dtype(x, "input", "float32", "int8")
    ctx.require_dtype(y, "output", "int8")
    ctx.require_quantized(y, "output")
    if x.dtype == "float32":
        name = ctx.params("tinyml_affine_params", {
            "size": y.size, "scale": c_literal(y.scale, "float"), "zero_point": y.zero_point})
        return f"tinyml_quantize_f32_s8(&{name}, {ctx.in_ptr(0)}, {ctx.out_ptr(0)});"
    ctx.require_quantized(x, "input")
    multiplier, shift = requantize_multiplier(x.scale, y.scale)
    name = ctx.params("tinyml_requantize_params", {
        "size": y.size, "input_zero_point": x.zero_point, "output_zero_point": y.zero_point,
        "multiplier": multiplier, "shift": shift})
    return f"tinyml_quantize_s8_s8(&{name}, {ctx.in_ptr(0)}, {ctx.out_ptr(0)});"
