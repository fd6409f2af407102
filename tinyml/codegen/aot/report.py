"""The aot memory plan as ``tinyml inspect --engine aot`` shows it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tinyml.errors import TinymlError


def plan_report(model_path: str | Path) -> tuple[dict[str, Any] | None, str | None]:
    """(plan.to_dict(), None), or (None, why) when the aot engine cannot compile the model."""
    from tinyml.codegen.aot.planner import plan
    from tinyml.model.tflite import load

    try:
        return plan(load(model_path)).to_dict(), None
    except TinymlError as err:
        return None, err.message


def plan_rows(d: dict[str, Any]) -> list[list[Any]]:
    """One row per arena buffer: offset, size, live ops, tensors (RESHAPE aliases share a row)."""
    rows = []
    for b in d["buffers"]:
        first = "in" if b["first_op"] < 0 else str(b["first_op"])
        last = "out" if b["last_op"] >= d["num_ops"] else str(b["last_op"])
        names = ", ".join(f"{t['index']}:{t['name']}" for t in b["tensors"])
        rows.append([f"{b['offset']:,}", f"{b['size']:,}", f"{first}..{last}", names[:80]])
    return rows
