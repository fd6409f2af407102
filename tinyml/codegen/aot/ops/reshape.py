"""RESHAPE, SQUEEZE, EXPAND_DIMS: the bytes do not move, so the planner aliases the output to
the input and no code runs."""

from __future__ import annotations

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.registry import register


@register("RESHAPE", "SQUEEZE", "EXPAND_DIMS", alias=True)
def emit(ctx: OpContext) -> str:
    x, y = ctx.need_input(0, "input"), ctx.output()
    ctx.require(x.nbytes == y.nbytes and x.dtype == y.dtype,
                f"its output ({y.dtype} {y.shape}) is not a view of its input ({x.dtype} {x.shape})")
    return ""
