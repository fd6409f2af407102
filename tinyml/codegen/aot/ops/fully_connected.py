"""FULLY_CONNECTED: int8 input and weights (per-tensor or per-channel), int32 bias or none."""

from __future__ import annotations

import numpy as np

from tinyml.codegen.aot.context import OpContext
from tinyml.codegen.aot.ops import _mm
from tinyml.codegen.aot.ops._common import fused_activation, int8_io, weights_and_bias
from tinyml.codegen.aot.registry import register


@register("FULLY_CONNECTED")
def emit(ctx: OpContext) -> str:
    x, y = int8_io(ctx)
    w = ctx.need_input(1, "filter")
    ctx.require(len(w.shape) == 2, f"its filter has shape {w.shape}, expected (units, depth)")
    ctx.require(ctx.options.get("weights_format", 0) in (0, "DEFAULT"), "its weights are shuffled")
    units, depth = w.shape
    ctx.require(x.size % depth == 0, f"its input has {x.size} values, not a multiple of the depth {depth}")
    batches = x.size // depth
    ctx.require(y.size == batches * units, f"its output has {y.size} values, expected {batches * units}")
    lo, hi = fused_activation(ctx, y)

    def reference() -> str:
        q = weights_and_bias(ctx, x, y, channels=units, axis=0)
        p = ctx.params("tinyml_fully_connected_params", {
            "batches": batches, "depth": depth, "units": units,
            "in_offset": -x.zero_point, "filter_offset": -q["filter_zero_point"], "out_offset": y.zero_point,
            "act_min": lo, "act_max": hi, "per_channel": q["per_channel"],
            "filter": q["filter"], "bias": q["bias"], "multiplier": q["multiplier"], "shift": q["shift"],
        })
        return f"tinyml_fully_connected_s8(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"

    def fast() -> str | None:
        plan = _mm.plan_for(ctx, x, y, (lo, hi))  # None for asymmetric (per-tensor) weights
        if plan is None or plan.k4 > _mm.COL_MAX:
            return None
        if depth <= _mm.FC_SMALL_MAX_DEPTH:  # no padding to 4, no row pairs: one record per unit
            w2d = np.asarray(w.data, dtype=np.int8).reshape(units, depth)
            rec = ctx.const_array("rec_fc", "int32_t", _mm.small_records(plan, w2d).reshape(-1))
            p = ctx.params("tinyml_fc_small_params", {
                "batches": batches, "depth": depth, "units": units, "act_min": lo, "act_max": hi, "rec": rec,
            }, what="small")
            return f"{plan.core.replace('tinyml_mm_', 'tinyml_fc_small_')}(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"
        p = ctx.params("tinyml_fc_mm_params", {
            "mm": _mm.struct_literal(_mm.mm_fields(ctx, plan)), "core": plan.core,
            "batches": batches, "depth": depth,
        }, what="mm")
        return f"tinyml_fc_mm_s8(&{p}, {ctx.ptr(x)}, {ctx.ptr(y)});"

    return _mm.with_fast(ctx, reference, fast)
