"""Offline memory planning: every activation tensor gets an offset in one static arena.

- Lifetimes come from the op order: a tensor lives from the op that produces it (graph inputs
  and constants copied into the arena: from before the first op) to its last consumer (graph
  outputs: to after the last op, when tinyml_invoke copies them out).
- Aliases (RESHAPE and other ``alias`` ops) share their input's storage; the merged buffer
  lives as long as any of its tensors. ``inplace`` ops reuse input 0's storage when input 0
  dies at that op.
- Offsets: greedy placement, one buffer at a time, into a gap left by the already placed
  buffers whose lifetimes overlap it; offsets aligned to ALIGN bytes. A few orders (largest
  first, first use first, longest lived first) and fits (best, first, two-sided) are tried and
  the smallest arena kept; it stops early when one reaches the live peak (the lower bound).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tinyml.codegen.aot.registry import OpSpec, get_spec
from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model, Operator

ALIGN = 4
BEFORE_FIRST_OP = -1

# (name, order, fit), tried in turn; the first one is the classic greedy by size, best fit.
STRATEGIES: list[tuple[str, Callable[[Buffer], tuple[int, ...]], str]] = [
    ("largest-first best-fit", lambda b: (-b.size, b.first), "best"),
    ("largest-first first-fit", lambda b: (-b.size, b.first), "first"),
    ("first-use first-fit", lambda b: (b.first, -b.size), "first"),
    ("longest-lived first-fit", lambda b: (b.first - b.last, -b.size), "first"),
    ("largest-area first-fit", lambda b: (-b.size * (b.last - b.first + 1), b.first), "first"),
    ("largest-first two-sided", lambda b: (-b.size, b.first), "two-sided"),
]


def unsupported(model: Model, op: Operator, reason: str) -> TinymlError:
    return TinymlError(f"the aot engine cannot compile op #{op.index} {op.opcode} "
                       f"(of {len(model.operators)} ops): {reason}",
                       hint="use --engine tflm", kind=ErrorKind.UNSUPPORTED)


def spec_for(model: Model, op: Operator) -> OpSpec:
    spec = get_spec(op.opcode)
    if spec is None:
        raise unsupported(model, op, "no aot kernel for this op")
    return spec


def activation_inputs(op: Operator, spec: OpSpec) -> list[int]:
    """Tensor indices op reads from the arena (omitted inputs skipped)."""
    positions = range(len(op.inputs)) if spec.activation_inputs is None else spec.activation_inputs
    return [op.inputs[p] for p in positions if p < len(op.inputs) and op.inputs[p] >= 0]


@dataclass
class Buffer:
    tensors: list[int]  # the root tensor first, then its aliases
    size: int
    first: int  # op index of the first use; BEFORE_FIRST_OP for inputs and materialized constants
    last: int  # op index of the last use; len(ops) for graph outputs
    offset: int = 0

    def overlaps(self, other: Buffer) -> bool:
        return self.first <= other.last and other.first <= self.last


@dataclass
class MemoryPlan:
    buffers: list[Buffer]
    arena_bytes: int
    offsets: dict[int, int]  # tensor index -> arena offset (aliases included)
    materialized: list[int]  # constant tensors copied into the arena at each inference
    tensor_names: dict[int, str] = field(default_factory=dict)
    num_ops: int = 0
    live_peak_bytes: int = 0  # most bytes alive at one op: no layout of these buffers needs less
    strategy: str = ""  # the placement that gave the smallest arena

    @property
    def naive_bytes(self) -> int:
        """What the arena would need without reuse (every buffer its own storage)."""
        return sum(_align(b.size) for b in self.buffers)

    def offset(self, tensor: int) -> int:
        return self.offsets[tensor]

    def to_dict(self) -> dict[str, Any]:
        return {
            "arena_bytes": self.arena_bytes,
            "naive_bytes": self.naive_bytes,
            "alignment": ALIGN,
            "num_ops": self.num_ops,
            "live_peak_bytes": self.live_peak_bytes,
            "strategy": self.strategy,
            "buffers": [
                {"offset": b.offset, "size": b.size, "first_op": b.first, "last_op": b.last,
                 "tensors": [{"index": t, "name": self.tensor_names.get(t, "")} for t in b.tensors]}
                for b in sorted(self.buffers, key=lambda b: (b.offset, b.first))
            ],
        }


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def plan(model: Model) -> MemoryPlan:
    n_ops = len(model.operators)
    specs = [spec_for(model, op) for op in model.operators]
    parent: dict[int, int] = {}

    def root(t: int) -> int:
        while parent.get(t, t) != t:
            t = parent[t]
        return t

    first: dict[int, int] = {}
    last: dict[int, int] = {}
    size: dict[int, int] = {}
    materialized: list[int] = []

    def touch(t: int, when: int) -> None:
        tensor = model.tensors[t]
        if t not in first:
            first[t] = when
            last[t] = when
            size[t] = tensor.nbytes
        first[t] = min(first[t], when)
        last[t] = max(last[t], when)

    for t in model.inputs:
        touch(t, BEFORE_FIRST_OP)
    for op, spec in zip(model.operators, specs, strict=True):
        for t in activation_inputs(op, spec):
            if model.tensors[t].is_constant and t not in first:
                materialized.append(t)
                touch(t, BEFORE_FIRST_OP)
            touch(t, op.index)
        for t in op.outputs:
            if t >= 0:
                touch(t, op.index)
    for t in model.outputs:
        touch(t, n_ops)

    def merge(child: int, into: int) -> None:
        r = root(into)
        parent[child] = r
        first[r] = min(first[r], first[child])
        last[r] = max(last[r], last[child])
        size[r] = max(size[r], size[child])

    for op, spec in zip(model.operators, specs, strict=True):
        ins = activation_inputs(op, spec)
        if not ins or not op.outputs:
            continue
        out, src = op.outputs[0], ins[0]
        if spec.alias:
            merge(out, src)
        elif spec.inplace:
            r = root(src)
            if last[r] == op.index and size[r] == size[out]:
                merge(out, src)

    groups: dict[int, list[int]] = {}
    for t in first:
        groups.setdefault(root(t), []).append(t)
    buffers = [Buffer(sorted(ts, key=lambda t: (t != r, t)), size[r], first[r], last[r])
               for r, ts in groups.items()]

    live_peak = max((sum(b.size for b in buffers if b.first <= k <= b.last)
                     for k in range(BEFORE_FIRST_OP, n_ops + 1)), default=0)
    best: tuple[int, str, dict[int, int]] | None = None
    for name, key, fit in STRATEGIES:
        offsets_by_buf = _place(buffers, key, fit, live_peak)
        size_needed = max((offsets_by_buf[i] + b.size for i, b in enumerate(buffers)), default=0)
        if best is None or size_needed < best[0]:
            best = (size_needed, name, offsets_by_buf)
        if size_needed <= live_peak:
            break  # no layout can do better
    assert best is not None or not buffers
    strategy = best[1] if best else STRATEGIES[0][0]
    for i, b in enumerate(buffers):
        b.offset = best[2][i] if best else 0
    _check(buffers)

    arena = _align(max((b.offset + b.size for b in buffers), default=0)) or ALIGN
    offsets = {t: b.offset for b in buffers for t in b.tensors}
    names = {t: model.tensors[t].name for t in offsets}
    return MemoryPlan(sorted(buffers, key=lambda b: b.tensors[0]), arena, offsets, materialized, names, n_ops,
                      live_peak, strategy)


def _place(buffers: list[Buffer], key: Callable[[Buffer], tuple[int, ...]], fit: str,
           limit: int) -> dict[int, int]:
    """Offsets (by index into ``buffers``) placing them one by one in ``key`` order.

    fit "best": the smallest gap that holds the buffer; "first": the lowest one; "two-sided":
    like best but, below ``limit``, alternate ends of the gap by first use (ping-pong along chains).
    """
    offsets: dict[int, int] = {}
    for i in sorted(range(len(buffers)), key=lambda j: (*key(buffers[j]), j)):
        buf = buffers[i]
        busy = sorted(((offsets[j], buffers[j]) for j in offsets if buffers[j].overlaps(buf)), key=lambda t: t[0])
        gaps: list[tuple[int, int | None]] = []
        cursor = 0
        for off, other in busy:
            if off - cursor >= buf.size:
                gaps.append((cursor, off))
            cursor = max(cursor, _align(off + other.size))
        gaps.append((cursor, None))
        bounded = [(lo, hi) for lo, hi in gaps if hi is not None]
        if fit == "first":
            offsets[i] = gaps[0][0]
        elif fit == "best":
            offsets[i] = min(bounded, key=lambda g: (g[1] - g[0], g[0]))[0] if bounded else cursor
        else:
            fitting = [(lo, hi if hi is not None else limit) for lo, hi in gaps]
            fitting = [(lo, hi) for lo, hi in fitting if hi - lo >= buf.size]
            if not fitting:
                offsets[i] = cursor
                continue
            lo, hi = min(fitting, key=lambda g: (g[1] - g[0], g[0]))
            top = (hi - buf.size) // ALIGN * ALIGN
            offsets[i] = lo if buf.first % 2 == 0 or top < lo else top
    return offsets


def _check(buffers: list[Buffer]) -> None:
    """Internal invariant: buffers alive at the same time never share a byte."""
    for i, a in enumerate(buffers):
        for b in buffers[i + 1:]:
            if a.overlaps(b) and a.offset < b.offset + b.size and b.offset < a.offset + a.size:
                raise AssertionError(f"aot planner overlap: tensors {a.tensors} and {b.tensors}")
