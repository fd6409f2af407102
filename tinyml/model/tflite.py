"""A TensorFlow-free reader for ``.tflite`` flatbuffers.

It uses the schema bindings that the pinned ``tflite-micro`` wheel ships
(``schema_py_generated.py``), loaded by file path so that reading a model never starts
the TFLM runtime. Everything it returns is plain Python/numpy: the analysis, the aot
generator and the C-array writer all work from this one view of a model.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError

# TensorType enum value -> (name, numpy dtype or None when numpy has no such type)
_TENSOR_TYPES: dict[int, tuple[str, Any]] = {
    0: ("float32", np.float32), 1: ("float16", np.float16), 2: ("int32", np.int32),
    3: ("uint8", np.uint8), 4: ("int64", np.int64), 5: ("string", None), 6: ("bool", np.bool_),
    7: ("int16", np.int16), 8: ("complex64", np.complex64), 9: ("int8", np.int8),
    10: ("float64", np.float64), 12: ("uint64", np.uint64), 15: ("uint32", np.uint32),
    16: ("uint16", np.uint16), 17: ("int4", None),
}

_ENUM_FIELDS = {"padding": "Padding", "fused_activation_function": "ActivationFunctionType"}


@functools.lru_cache(maxsize=1)
def schema() -> ModuleType:
    """The flatbuffer schema module from the tflite-micro wheel, without importing its runtime."""
    spec = importlib.util.find_spec("tflite_micro")
    if spec is None or not spec.submodule_search_locations:
        raise TinymlError("the tflite-micro package is not installed",
                          hint="pip install -e . (it pins tflite-micro)", kind=ErrorKind.TOOL)
    root = Path(next(iter(spec.submodule_search_locations)))
    path = root / "tensorflow" / "lite" / "micro" / "python" / "schema_py_generated.py"
    mod_spec = importlib.util.spec_from_file_location("tinyml._tflite_schema", path)
    if mod_spec is None or mod_spec.loader is None or not path.exists():
        raise TinymlError(f"the tflite-micro package has no flatbuffer schema at {path}",
                          hint="reinstall the pinned tflite-micro", kind=ErrorKind.TOOL)
    module = importlib.util.module_from_spec(mod_spec)
    sys.modules[mod_spec.name] = module
    mod_spec.loader.exec_module(module)
    return module


@functools.cache
def _enum_names(enum_class: str) -> dict[int, str]:
    cls = getattr(schema(), enum_class)
    return {v: k for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Quantization:
    scale: np.ndarray  # float32, one per tensor or one per channel
    zero_point: np.ndarray  # int64, same length as scale
    axis: int  # the quantized dimension for per-channel

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"scale": [float(s) for s in self.scale],
                             "zero_point": [int(z) for z in self.zero_point]}
        if self.per_channel:
            d["axis"] = self.axis
        return d


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str  # "int8", "float32", ...
    quantization: Quantization | None
    data: np.ndarray | None  # the constant's values in ``shape``, None for activations
    is_variable: bool = False

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def size(self) -> int:
        return int(np.prod(self.shape)) if self.shape else 1

    @property
    def itemsize(self) -> int:
        np_type = dtype_to_numpy(self.dtype)
        return np.dtype(np_type).itemsize if np_type is not None else 1

    @property
    def nbytes(self) -> int:
        return self.size * self.itemsize

    @property
    def scale(self) -> float:
        """The per-tensor scale (first scale when per-channel)."""
        return float(self.quantization.scale[0]) if self.quantization else 0.0

    @property
    def zero_point(self) -> int:
        return int(self.quantization.zero_point[0]) if self.quantization else 0


@dataclass
class Operator:
    index: int
    opcode: str  # BuiltinOperator name, e.g. "CONV_2D", or "CUSTOM:<name>"
    version: int
    inputs: list[int]  # tensor indices; -1 marks an omitted optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Model:
    raw: bytes
    sha256: str
    description: str
    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]
    subgraph_count: int
    path: Path | None = None

    @property
    def size(self) -> int:
        return len(self.raw)

    def input_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.inputs]

    def output_tensors(self) -> list[Tensor]:
        return [self.tensors[i] for i in self.outputs]

    def opcodes(self) -> list[str]:
        """Distinct op codes in first-use order."""
        return list(dict.fromkeys(op.opcode for op in self.operators))

    @property
    def label(self) -> str:
        return str(self.path) if self.path else "<model bytes>"


def dtype_to_numpy(dtype: str) -> Any:
    for name, np_type in _TENSOR_TYPES.values():
        if name == dtype:
            return np_type
    return None


def _options_dict(obj: Any) -> dict[str, Any]:
    if obj is None:
        return {}
    out: dict[str, Any] = {}
    for key, value in vars(obj).items():
        name = _snake(key)
        if name in _ENUM_FIELDS and isinstance(value, int):
            value = _enum_names(_ENUM_FIELDS[name]).get(value, str(value))
        elif isinstance(value, np.ndarray):
            value = value.tolist()
        out[name] = value
    return out


def _bad(label: str, why: str) -> TinymlError:
    return TinymlError(f"{label} is not a valid .tflite model: {why}",
                       hint="re-export it with `tinyml quantize` or the TFLite converter", kind=ErrorKind.INPUT)


def parse(raw: bytes, path: Path | None = None) -> Model:
    """Parse .tflite bytes into a Model; any corruption becomes a TinymlError."""
    label = str(path) if path else "the model"
    if len(raw) < 8 or raw[4:8] != b"TFL3":
        raise _bad(label, "no TFL3 flatbuffer identifier (is it a .tflite file?)")
    s = schema()
    try:
        mt = s.ModelT.InitFromPackedBuf(raw, 0)
    except Exception as exc:  # flatbuffers raises anything on truncated data
        raise _bad(label, f"the flatbuffer is truncated or corrupt ({type(exc).__name__})") from exc
    try:
        return _build(mt, raw, path, label)
    except TinymlError:
        raise
    except Exception as exc:
        raise _bad(label, f"inconsistent contents ({type(exc).__name__}: {exc})") from exc


def _build(mt: Any, raw: bytes, path: Path | None, label: str) -> Model:
    subgraphs = mt.subgraphs or []
    if not subgraphs:
        raise _bad(label, "it has no subgraph")
    sg = subgraphs[0]
    buffers = mt.buffers or []
    op_names = _enum_names("BuiltinOperator")
    opcodes: list[tuple[str, int]] = []
    for oc in mt.operatorCodes or []:
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        name = op_names.get(code, f"BUILTIN_{code}")
        if name == "CUSTOM":
            custom = oc.customCode.decode() if isinstance(oc.customCode, bytes) else str(oc.customCode)
            name = f"CUSTOM:{custom}"
        opcodes.append((name, int(oc.version)))

    tensors: list[Tensor] = []
    for i, t in enumerate(sg.tensors or []):
        type_name, np_type = _TENSOR_TYPES.get(int(t.type), (f"type{t.type}", None))
        shape = tuple(int(d) for d in (t.shape if t.shape is not None else []))
        q = t.quantization
        quant = None
        if q is not None and q.scale is not None and len(q.scale) > 0:
            scale = np.asarray(q.scale, dtype=np.float32)
            zp = np.asarray(q.zeroPoint if q.zeroPoint is not None else [0] * len(scale), dtype=np.int64)
            quant = Quantization(scale, zp, int(q.quantizedDimension))
        data = None
        if 0 < t.buffer < len(buffers):
            buf = buffers[t.buffer]
            blob: bytes | None = None
            if buf.data is not None and len(buf.data) > 0:
                blob = bytes(np.asarray(buf.data, dtype=np.uint8))
            elif buf.offset > 1 and buf.size > 0:
                blob = raw[buf.offset:buf.offset + buf.size]
            if blob is not None:
                if np_type is None:
                    raise TinymlError(f"{label}: constant tensor {i} '{t.name}' has type {type_name}",
                                      hint="tinyml reads int8/int16/int32/float models only",
                                      kind=ErrorKind.UNSUPPORTED)
                count = int(np.prod(shape)) if shape else 1
                need = count * np.dtype(np_type).itemsize
                if len(blob) < need:
                    raise _bad(label, f"tensor {i} '{t.name}' needs {need} bytes, buffer holds {len(blob)}")
                data = np.frombuffer(blob[:need], dtype=np_type).reshape(shape).copy()
        name = t.name.decode(errors="replace") if isinstance(t.name, bytes) else str(t.name or "")
        tensors.append(Tensor(i, name, shape, type_name, quant, data, bool(t.isVariable)))

    n = len(tensors)

    def check_indices(idx: list[int], what: str) -> list[int]:
        for k in idx:
            if k < -1 or k >= n:
                raise _bad(label, f"{what} refers to tensor {k}, but there are {n}")
        return idx

    operators: list[Operator] = []
    for i, op in enumerate(sg.operators or []):
        if not 0 <= op.opcodeIndex < len(opcodes):
            raise _bad(label, f"operator {i} has opcode index {op.opcodeIndex} of {len(opcodes)}")
        name, version = opcodes[op.opcodeIndex]
        inputs = check_indices([int(x) for x in (op.inputs if op.inputs is not None else [])], f"operator {i}")
        outputs = check_indices([int(x) for x in (op.outputs if op.outputs is not None else [])], f"operator {i}")
        operators.append(Operator(i, name, version, inputs, outputs, _options_dict(op.builtinOptions)))

    inputs = check_indices([int(x) for x in (sg.inputs if sg.inputs is not None else [])], "the graph inputs")
    outputs = check_indices([int(x) for x in (sg.outputs if sg.outputs is not None else [])], "the graph outputs")
    if not inputs or not outputs:
        raise _bad(label, "the graph has no inputs or no outputs")
    desc = mt.description.decode(errors="replace") if isinstance(mt.description, bytes) else (mt.description or "")
    return Model(raw=bytes(raw), sha256=hashlib.sha256(raw).hexdigest(), description=desc, tensors=tensors,
                 operators=operators, inputs=inputs, outputs=outputs, subgraph_count=len(subgraphs), path=path)


def load(path: str | Path) -> Model:
    """Read and parse a .tflite file, with clear errors for missing or unreadable files."""
    p = Path(path)
    if not p.exists():
        raise TinymlError(f"{p} does not exist", hint="check the path", kind=ErrorKind.INPUT)
    if p.is_dir():
        raise TinymlError(f"{p} is a directory, not a .tflite file", hint="pass the .tflite file itself",
                          kind=ErrorKind.INPUT)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise TinymlError(f"cannot read {p}: {exc.strerror}", kind=ErrorKind.INPUT) from exc
    return parse(raw, p)
