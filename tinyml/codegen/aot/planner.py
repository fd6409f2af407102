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
    # along chains of row-streaming ops: each output just below its input, a descending staircase
    ("first-use streaming", lambda b: (b.first, -b.size), "stream"),
    # the same from the end: each input just above its already placed output, so that a buffer
    # that must outlive a streaming pair (a residual branch) is placed around the pair, not between
    ("last-use streaming", lambda b: (-b.first, -b.size), "stream"),
]


def unsupported(model: Model, op: Operator, reason: str) -> TinymlError:
    from tinyml.model.analysis import TFLM_RESOLVER

    # Suggest TFLM only when it has the op: otherwise neither engine can run the model.
    hint = ("use --engine tflm" if op.opcode in TFLM_RESOLVER else
            f"TFLite Micro has no {op.opcode} kernel either: replace that layer, or re-export with builtin "
            "int8 ops only (TFLITE_BUILTINS_INT8)")
    return TinymlError(f"the aot engine cannot compile op #{op.index} {op.opcode} "
                       f"(of {len(model.operators)} ops): {reason}", hint=hint, kind=ErrorKind.UNSUPPORTED)


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

    # Row-streaming ops may write their output over the rows of input 0 they have finished
    # reading: output.offset + D <= input.offset (D from the op's spec) instead of disjoint.
    index_of = {r: i for i, r in enumerate(groups)}
    overlaps: dict[tuple[int, int], int] = {}  # (output buffer, input buffer) -> D
    for op, spec in zip(model.operators, specs, strict=True):
        ins = activation_inputs(op, spec)
        if spec.overlap is None or not ins or not op.outputs:
            continue
        rx, ry = root(ins[0]), root(op.outputs[0])
        if rx == ry or last[rx] != op.index or first[ry] != op.index or any(
                root(t) == rx for t in ins[1:]):
            continue
        d = spec.overlap(model, op)
        if d is not None:
            overlaps[(index_of[ry], index_of[rx])] = max(0, d)

    live_peak = max((sum(b.size for b in buffers if b.first <= k <= b.last)
                     for k in range(BEFORE_FIRST_OP, n_ops + 1)), default=0)
    best: tuple[int, str, dict[int, int]] | None = None
    for name, key, fit in STRATEGIES:
        offsets_by_buf = _place(buffers, key, fit, live_peak, overlaps)
        size_needed = max((offsets_by_buf[i] + b.size for i, b in enumerate(buffers)), default=0)
        if best is None or size_needed < best[0]:
            best = (size_needed, name, offsets_by_buf)
        if size_needed <= live_peak and not overlaps:
            break  # no layout of disjoint buffers can do better
    assert best is not None or not buffers
    strategy = best[1] if best else STRATEGIES[0][0]
    for i, b in enumerate(buffers):
        b.offset = best[2][i] if best else 0
    _check(buffers, overlaps)

    arena = _align(max((b.offset + b.size for b in buffers), default=0)) or ALIGN
    offsets = {t: b.offset for b in buffers for t in b.tensors}
    names = {t: model.tensors[t].name for t in offsets}
    return MemoryPlan(sorted(buffers, key=lambda b: b.tensors[0]), arena, offsets, materialized, names, n_ops,
                      live_peak, strategy)


def _forbidden(buffers: list[Buffer], i: int, j: int, off_j: int,
               overlaps: dict[tuple[int, int], int]) -> tuple[int, int]:
    """Open interval of offsets buffer i may not take, given buffer j (alive at the same time) at off_j."""
    bi, bj = buffers[i], buffers[j]
    if (i, j) in overlaps:  # i is the output streaming over its input j
        return off_j - overlaps[(i, j)], off_j + bj.size
    if (j, i) in overlaps:  # i is the input, j the output written over it
        return off_j - bi.size, off_j + overlaps[(j, i)]
    return off_j - bi.size, off_j + bj.size


def _place(buffers: list[Buffer], key: Callable[[Buffer], tuple[int, ...]], fit: str, limit: int,
           overlaps: dict[tuple[int, int], int]) -> dict[int, int]:
    """Offsets (by index into ``buffers``) placing them one by one in ``key`` order.

    Candidates are 0 and the (aligned) upper ends of the intervals the placed buffers forbid.
    fit "first": the lowest candidate; "best": the one leaving the least room before the next
    forbidden interval; "two-sided": like best within ``limit``, but buffers first used at odd
    ops go to the top of their gap (ping-pong along chains); "stream": an output D bytes below
    its row-streamed input when that is free (offsets may go negative; all are shifted at the end).
    """
    offsets: dict[int, int] = {}
    for i in sorted(range(len(buffers)), key=lambda j: (*key(buffers[j]), j)):
        buf = buffers[i]
        bans = [_forbidden(buffers, i, j, offsets[j], overlaps) for j in offsets if buffers[j].overlaps(buf)]
        cands = sorted({0, *(_align(hi) for _, hi in bans)})
        valid = [c for c in cands if all(c <= lo or c >= hi for lo, hi in bans)]

        def room(c: int, cap: int | None = None, bans: list[tuple[int, int]] = bans) -> int | None:
            """Largest offset >= c the buffer can slide up to without entering a ban (None: unbounded)."""
            tops = [lo for lo, _ in bans if lo >= c]
            top = min(tops) if tops else cap
            return None if top is None else top // ALIGN * ALIGN

        if fit == "stream":
            below = [(off - overlaps[(i, j)]) // ALIGN * ALIGN for j, off in offsets.items() if (i, j) in overlaps]
            above = [_align(off + overlaps[(j, i)]) for j, off in offsets.items() if (j, i) in overlaps]
            ok = [c for c in below + above if all(c <= lo or c >= hi for lo, hi in bans)]
            offsets[i] = max(ok) if ok else valid[0]
        elif fit == "first":
            offsets[i] = valid[0]
        elif fit == "best":
            bounded = [(r - c, c) for c in valid if (r := room(c)) is not None]
            offsets[i] = min(bounded)[1] if bounded else valid[-1]
        else:
            inside = [(r - c, c, r) for c in valid if (r := room(c, limit - buf.size)) is not None and r >= c]
            if not inside:
                offsets[i] = valid[-1]
                continue
            _, lo, top = min(inside)
            offsets[i] = lo if buf.first % 2 == 0 else top
    low = min(offsets.values(), default=0)
    return {i: off - low for i, off in offsets.items()}  # "stream" may go below 0: shift up


def _check(buffers: list[Buffer], overlaps: dict[tuple[int, int], int]) -> None:
    """Internal invariant: buffers alive at the same time never share a byte, except an output
    streaming over its dying input at least D bytes below it."""
    for i, a in enumerate(buffers):
        for j, b in enumerate(buffers):
            if i < j and a.overlaps(b):
                lo, hi = _forbidden(buffers, i, j, b.offset, overlaps)
                if lo < a.offset < hi:
                    raise AssertionError(f"aot planner overlap: tensors {a.tensors} and {b.tensors}")
