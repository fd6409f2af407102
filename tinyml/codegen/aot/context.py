"""What an op's emit function gets: its operator, the model, the memory plan, and helpers
that declare constant data and parameter structs in the generated model.c."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tinyml.codegen.aot.planner import MemoryPlan, unsupported
from tinyml.errors import TinymlError
from tinyml.model.tflite import Model, Operator, Tensor

C_TYPES = {"int8": "int8_t", "uint8": "uint8_t", "int16": "int16_t", "int32": "int32_t", "float32": "float",
           "int64": "int64_t", "bool": "uint8_t"}


def c_literal(value: Any, ctype: str) -> str:
    """One C initializer value; floats keep every float32 digit and get an 'f'."""
    if isinstance(value, str):  # an identifier or expression, e.g. another array's name
        return value
    if value is None:
        return "NULL"
    if ctype == "float":
        f32 = np.float32(value)
        if not np.isfinite(f32):
            raise ValueError(f"cannot write {f32} as a C float")
        # shortest text that reads back as the same float32
        return np.format_float_scientific(f32, unique=True, trim="0") + "f"
    v = int(value)
    if ctype in ("int32_t", "int64_t") and v == -(2**31 if ctype == "int32_t" else 2**63):
        return f"({v + 1} - 1)"  # INT_MIN has no literal form
    return f"({v})" if v < 0 else str(v)


@dataclass
class Unit:
    """The growing model.c: file-scope declarations, shared by all ops."""

    model: Model
    plan: MemoryPlan
    decls: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    tensor_arrays: dict[int, str] = field(default_factory=dict)

    def unique(self, name: str) -> str:
        base, k = name, 1
        while name in self.names:
            k += 1
            name = f"{base}_{k}"
        self.names.add(name)
        return name

    def const_array(self, name: str, ctype: str, values: Iterable[Any]) -> str:
        vals = [c_literal(v, ctype) for v in np.asarray(list(values) if not isinstance(values, np.ndarray)
                                                         else values).reshape(-1).tolist()]
        if not vals:
            vals = ["0"]  # C has no empty arrays
        name = self.unique(name)
        lines = [", ".join(vals[i:i + 16]) for i in range(0, len(vals), 16)]
        body = ",\n    ".join(lines)
        self.decls.append(f"static TINYML_CONST {ctype} {name}[{len(vals)}] TINYML_ALIGNED(4) = {{\n    {body}\n}};")
        return name

    def tensor_array(self, tensor: Tensor, name: str) -> str:
        """A constant tensor's data in flash (declared once even if several ops use it)."""
        if tensor.index not in self.tensor_arrays:
            if tensor.data is None:
                raise ValueError(f"tensor {tensor.index} is not constant")
            ctype = C_TYPES[tensor.dtype]
            self.tensor_arrays[tensor.index] = self.const_array(name, ctype, tensor.data)
        return self.tensor_arrays[tensor.index]


@dataclass
class OpContext:
    unit: Unit
    op: Operator
    layer: int  # position among the executed layers

    @property
    def model(self) -> Model:
        return self.unit.model

    @property
    def plan(self) -> MemoryPlan:
        return self.unit.plan

    @property
    def options(self) -> dict[str, Any]:
        return self.op.options

    # -- tensors ------------------------------------------------------------------------------
    def input(self, i: int) -> Tensor | None:
        """The op's i-th input tensor, or None when omitted (index -1) or absent."""
        if i >= len(self.op.inputs) or self.op.inputs[i] < 0:
            return None
        return self.model.tensors[self.op.inputs[i]]

    def need_input(self, i: int, what: str) -> Tensor:
        t = self.input(i)
        if t is None:
            raise self.unsupported(f"its {what} (input {i}) is missing")
        return t

    def output(self, i: int = 0) -> Tensor:
        return self.model.tensors[self.op.outputs[i]]

    def ptr(self, tensor: Tensor) -> str:
        """C expression for an arena tensor's storage, typed by its dtype."""
        off = self.plan.offset(tensor.index)
        ctype = C_TYPES.get(tensor.dtype, "int8_t")
        if ctype == "int8_t":
            return f"T({off})"
        return f"(({ctype} *)(void *)T({off}))"

    def in_ptr(self, i: int = 0) -> str:
        return self.ptr(self.need_input(i, "input"))

    def out_ptr(self, i: int = 0) -> str:
        return self.ptr(self.output(i))

    # -- declarations -------------------------------------------------------------------------
    def name(self, what: str) -> str:
        return f"op{self.op.index}_{what}"

    def const_array(self, what: str, ctype: str, values: Iterable[Any]) -> str:
        """Declare ``static TINYML_CONST ctype op<N>_<what>[] = {...}``; returns its name."""
        return self.unit.const_array(self.name(what), ctype, values)

    def weights(self, tensor: Tensor, what: str = "weights") -> str:
        """A constant input tensor's data in flash, e.g. a filter or a bias."""
        return self.unit.tensor_array(tensor, self.name(what))

    def params(self, ctype: str, fields: Mapping[str, Any], what: str = "params") -> str:
        """Declare a TINYML_CONST params struct with designated initializers; returns its name.
        Values: ints, strings (C expressions such as array names), None (NULL), or lists for
        array fields."""
        name = self.unit.unique(self.name(what))
        parts = []
        for key, value in fields.items():
            if isinstance(value, (list, tuple)):
                parts.append(f".{key} = {{{', '.join(c_literal(v, 'int32_t') for v in value)}}}")
            else:
                parts.append(f".{key} = {c_literal(value, 'int32_t')}")
        body = ",\n    ".join(parts)
        self.unit.decls.append(f"static TINYML_CONST {ctype} {name} = {{\n    {body}\n}};")
        return name

    # -- checks -------------------------------------------------------------------------------
    def unsupported(self, reason: str) -> TinymlError:
        return unsupported(self.model, self.op, reason)

    def require(self, cond: bool, reason: str) -> None:
        if not cond:
            raise self.unsupported(reason)

    def require_dtype(self, tensor: Tensor, what: str, *dtypes: str) -> None:
        if tensor.dtype not in dtypes:
            raise self.unsupported(f"its {what} is {tensor.dtype}, the aot kernel takes {' or '.join(dtypes)}")

    def require_quantized(self, tensor: Tensor, what: str) -> None:
        q = tensor.quantization
        if q is None or len(q.scale) == 0:
            raise self.unsupported(f"its {what} has no quantization parameters")
        if len(q.scale) != 1:
            raise self.unsupported(f"its {what} is quantized per channel (only weights may be)")
