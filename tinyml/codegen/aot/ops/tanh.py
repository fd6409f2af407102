"""TANH (int8): the same Prepare as LOGISTIC (micro/kernels/tanh.cc); output scale 1/128, zero point 0."""

from __future__ import annotations

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops.logistic import emit_sigmoid
from tinyml.codegen.aot.registry import register


@register("TANH", inplace=True)
def emit(ctx: OpContext) -> str:
    return emit_sigmoid(ctx, "tinyml_tanh_s8", 1.0 / 128, 0)
