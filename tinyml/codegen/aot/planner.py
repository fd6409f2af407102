"""Offline memory planning: every activation tensor gets an offset in one static arena.

- Lifetimes come from the op order: a tensor lives from the op that produces it (graph inputs
  and constants copied into the arena: from before the first op) to its last consumer (graph
  outputs: to after the last op, when tinyml_invoke copies them out).
- Aliases (RESHAPE and other ``alias`` ops) share their input's storage; the merged buffer
  lives as long as any of its tensors. ``inplace`` ops reuse input 0's storage when input 0
  dies at that op.
- Offsets: greedy, largest buffer first, each into the smallest gap (best fit) left by the
  already placed buffers whose lifetimes overlap it; offsets aligned to ALIGN bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tinyml.codegen.aot.registry import OpSpec, get_spec
from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model, Operator

ALIGN = 4
BEFORE_FIRST_OP = -1


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

    placed: list[Buffer] = []
    for buf in sorted(buffers, key=lambda b: (-b.size, b.first, b.tensors[0])):
        busy = sorted((p for p in placed if p.overlaps(buf)), key=lambda p: p.offset)
        best, best_gap, cursor = None, None, 0
        for p in busy:
            gap = p.offset - cursor
            if gap >= buf.size and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, _align(p.offset + p.size))
        buf.offset = cursor if best is None else best
        placed.append(buf)

    arena = _align(max((b.offset + b.size for b in buffers), default=0)) or ALIGN
    offsets = {t: b.offset for b in buffers for t in b.tensors}
    names = {t: model.tensors[t].name for t in offsets}
    return MemoryPlan(sorted(buffers, key=lambda b: b.tensors[0]), arena, offsets, materialized, names, n_ops)
