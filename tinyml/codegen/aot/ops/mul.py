"""MUL (int8, fused activation, NHWC broadcasting): TFLM CalculateOpDataMul at generation time:
one multiplier for s1 * s2 / s_out, computed in double (micro/kernels/mul_common.cc)."""

from __future__ import annotations

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops.add import binary_common
from tinyml.codegen.aot.quant import activation_range, quantize_multiplier
from tinyml.codegen.aot.registry import register


def mul_multiplier(s1: float, s2: float, s_out: float) -> tuple[int, int]:
    return quantize_multiplier(float(np.float32(s1)) * float(np.float32(s2)) / float(np.float32(s_out)))


@register("MUL", activation_inputs=(0, 1), inplace=True)
def emit(ctx: OpContext) -> str:
    x1, x2, y, fields = binary_common(ctx)
    act = ctx.options.get("fused_activation_function", "NONE")
    try:
        act_min, act_max = activation_range(act, y.scale, y.zero_point)
    except ValueError:
        raise ctx.unsupported(f"fused activation {act}") from None
    multiplier, shift = mul_multiplier(x1.scale, x2.scale, y.scale)
    fields.update({"input1_offset": -x1.zero_point, "input2_offset": -x2.zero_point,
                   "output_offset": y.zero_point, "output_multiplier": multiplier, "output_shift": shift,
                   "act_min": act_min, "act_max": act_max})
    name = ctx.params("tinyml_mul_params", fields)
    return f"tinyml_mul_s8(&{name}, {ctx.in_ptr(0)}, {ctx.in_ptr(1)}, {ctx.out_ptr(0)});"
