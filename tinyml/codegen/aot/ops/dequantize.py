"""DEQUANTIZE: int8 -> float32 at a --float-io model's output (TFLM Dequantize: scale * (q - zero point))."""

from __future__ import annotations

from tinyml.codegen.aot.context import OpContext, c_literal
from tinyml.codegen.aot.registry import register


@register("DEQUANTIZE")
def emit(ctx: OpContext) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    ctx.require_dtype(x, "input", "int8")
    ctx.require_dtype(y, "output", "float32")
    ctx.require_quantized(x, "input")
    name = ctx.params("tinyml_affine_params", {
        "size": x.size, "scale": c_literal(x.scale, "float"), "zero_point": x.zero_point})
    return f"tinyml_dequantize_s8_f32(&{name}, {ctx.in_ptr(0)}, {ctx.out_ptr(0)});"
