"""The per-op extension point of the aot engine: ``register`` an emit function per op code.

See the module docstring of ``tinyml.codegen.aot`` for how to add an op.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from tinyml.model.tflite import Model, Operator

if TYPE_CHECKING:
    from tinyml.codegen.aot.context import OpContext

EmitFn = Callable[["OpContext"], str]


@dataclass(frozen=True)
class OpSpec:
    opcode: str
    emit: EmitFn
    # Input positions that are activations (read from the arena). Constant tensors found there
    # are copied from flash into the arena at the start of each inference. None: every input.
    # Other inputs (weights, bias, shape/paddings tensors) are read at generation time.
    activation_inputs: tuple[int, ...] | None = (0,)
    # The output shares the input's storage and no code runs (RESHAPE, SQUEEZE, ...).
    alias: bool = False
    # The kernel may write its output over input 0 (same size, element for element): the
    # planner reuses input 0's storage when input 0 dies at this op.
    inplace: bool = False
    # Row streaming: overlap(model, op) -> D means the output may start D bytes before input 0
    # (and run over it) when input 0 dies at this op; None: not for this op instance. Only for
    # kernels that write output rows in order and, while writing a row, read only input rows at or
    # after the ones the next rows need (conv, depthwise, pooling). See ops/_common.py.
    overlap: Callable[[Model, Operator], int | None] | None = None


_REGISTRY: dict[str, OpSpec] = {}
_loaded = False


def register(*opcodes: str, activation_inputs: tuple[int, ...] | None = (0,), alias: bool = False,
             inplace: bool = False,
             overlap: Callable[[Model, Operator], int | None] | None = None) -> Callable[[EmitFn], EmitFn]:
    """Decorator: ``@register("CONV_2D")`` on ``def emit(ctx: OpContext) -> str``."""

    def deco(fn: EmitFn) -> EmitFn:
        for code in opcodes:
            _REGISTRY[code] = OpSpec(code, fn, activation_inputs, alias, inplace, overlap)
        return fn

    return deco


def _load() -> None:
    global _loaded
    if _loaded:
        return
    from tinyml.codegen.aot import ops

    for info in sorted(pkgutil.iter_modules(ops.__path__), key=lambda m: m.name):
        importlib.import_module(f"{ops.__name__}.{info.name}")
    _loaded = True


def get_spec(opcode: str) -> OpSpec | None:
    _load()
    return _REGISTRY.get(opcode)


def supported_opcodes() -> list[str]:
    _load()
    return sorted(_REGISTRY)
