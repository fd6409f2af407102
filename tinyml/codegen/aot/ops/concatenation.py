"""CONCATENATION along any axis (int8 inputs must share the output's quantization, as in TFLM)."""

from __future__ import annotations

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.registry import register


@register("CONCATENATION", activation_inputs=None)
def emit(ctx: OpContext) -> str:
    y = ctx.output()
    xs = [ctx.need_input(i, "input") for i in range(len(ctx.op.inputs))]
    ctx.require(len(xs) >= 1, "it has no inputs")
    ctx.require(ctx.options.get("fused_activation_function", "NONE") == "NONE",
                "it has a fused activation (TFLM's kernel has none either)")
    rank = len(y.shape)
    axis = int(ctx.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    ctx.require(0 <= axis < rank, f"its axis {ctx.options.get('axis')} is outside the output's {rank} dims")
    outer = 1
    for d in y.shape[:axis]:
        outer *= d
    chunks = []
    for i, x in enumerate(xs):
        ctx.require(x.dtype == y.dtype, f"input {i} is {x.dtype}, the output {y.dtype}")
        ctx.require(len(x.shape) == rank and all(x.shape[k] == y.shape[k] for k in range(rank) if k != axis),
                    f"input {i} has shape {x.shape}, which does not concatenate into {y.shape} on axis {axis}")
        if y.dtype == "int8":
            ctx.require_quantized(x, f"input {i}")
            ctx.require(x.scale == y.scale and x.zero_point == y.zero_point,
                        f"input {i} is quantized differently from the output (TFLM requires them equal)")
        chunks.append(x.nbytes // outer if outer else 0)
    ctx.require(sum(chunks) * outer == y.nbytes, "its inputs do not add up to its output")
    table = ctx.const_array("chunk_bytes", "int32_t", chunks)
    p = ctx.params("tinyml_concat_params", {"outer": outer, "count": len(xs), "chunk_bytes": table})
    ptrs = ", ".join(ctx.ptr(x) for x in xs)
    return (f"{{\n    const void *const inputs[{len(xs)}] = {{{ptrs}}};\n"
            f"    tinyml_concatenation(&{p}, inputs, {ctx.ptr(y)});\n}}")
