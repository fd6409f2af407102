"""Build small .tflite graphs without TensorFlow, and patch existing ones.

For tests and experiments: any op with exact weights, scales and options, fed to both the TFLM
interpreter and the aot engine (no conversion, no training, milliseconds). Uses the flatbuffer
object API of the schema that tinyml.model.tflite already loads.

    g = GraphBuilder()
    x = g.tensor((1, 8), scale=0.05, zero_point=-3)
    w = g.tensor((4, 8), data=weights_int8, scale=[...] or 0.01)
    y = g.tensor((1, 4), scale=0.1, zero_point=2)
    g.op("FULLY_CONNECTED", [x, w, -1], [y], fused_activation_function="RELU")
    raw = g.build(inputs=[x], outputs=[y])
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import flatbuffers
import numpy as np

from tinyml.model.tflite import schema

OPTIONS = {
    "CONV_2D": "Conv2DOptions", "DEPTHWISE_CONV_2D": "DepthwiseConv2DOptions",
    "FULLY_CONNECTED": "FullyConnectedOptions", "AVERAGE_POOL_2D": "Pool2DOptions", "MAX_POOL_2D": "Pool2DOptions",
    "PAD": "PadOptions", "PADV2": "PadV2Options", "CONCATENATION": "ConcatenationOptions",
    "RESHAPE": "ReshapeOptions", "SOFTMAX": "SoftmaxOptions", "ADD": "AddOptions", "MUL": "MulOptions",
    "MEAN": "ReducerOptions", "SPACE_TO_DEPTH": "SpaceToDepthOptions",
}
TYPES = {"float32": 0, "int32": 2, "uint8": 3, "int64": 4, "int16": 7, "int8": 9}


def _camel(name: str) -> str:
    return re.sub(r"_([a-z])", lambda m: m.group(1).upper(), name)


def _set_options(obj: Any, options: dict[str, Any]) -> None:
    s = schema()
    enums = {"padding": s.Padding, "fused_activation_function": s.ActivationFunctionType}
    for key, value in options.items():
        attr = _camel(key)
        if not hasattr(obj, attr):
            raise AttributeError(f"{type(obj).__name__} has no option {key}")
        if key in enums and isinstance(value, str):
            value = getattr(enums[key], value)
        setattr(obj, attr, value)


def pack(model: Any) -> bytes:
    builder = flatbuffers.Builder(4096)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


class GraphBuilder:
    def __init__(self) -> None:
        s = schema()
        self._s = s
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [s.BufferT()]
        self.opcodes: list[str] = []
        self.ops: list[Any] = []

    def tensor(self, shape: Sequence[int], dtype: str = "int8", *, scale: float | Sequence[float] | None = None,
               zero_point: int | Sequence[int] = 0, axis: int = 0, data: np.ndarray | None = None,
               name: str | None = None) -> int:
        s = self._s
        t = s.TensorT()
        t.shape = list(shape)
        t.type = TYPES[dtype]
        t.name = name or f"t{len(self.tensors)}"
        if scale is not None:
            q = s.QuantizationParametersT()
            scales = [float(v) for v in np.atleast_1d(np.asarray(scale, dtype=np.float64))]
            zp = np.atleast_1d(np.asarray(zero_point, dtype=np.int64))
            zps = [int(zp[0])] * len(scales) if zp.size == 1 else [int(v) for v in zp]
            q.scale, q.zeroPoint, q.quantizedDimension = scales, zps, axis
            t.quantization = q
        if data is not None:
            b = s.BufferT()
            b.data = np.frombuffer(np.ascontiguousarray(data).tobytes(), dtype=np.uint8)
            t.buffer = len(self.buffers)
            self.buffers.append(b)
        self.tensors.append(t)
        return len(self.tensors) - 1

    def op(self, opcode: str, inputs: Sequence[int], outputs: Sequence[int], *, version: int = 1,
           options_type: str | None = None, **options: Any) -> None:
        s = self._s
        if opcode not in self.opcodes:
            self.opcodes.append(opcode)
        o = s.OperatorT()
        o.opcodeIndex = self.opcodes.index(opcode)
        o.inputs, o.outputs = list(inputs), list(outputs)
        kind = options_type or OPTIONS.get(opcode)
        if kind:
            opts = getattr(s, kind + "T")()
            _set_options(opts, options)
            o.builtinOptionsType = getattr(s.BuiltinOptions, kind)
            o.builtinOptions = opts
        elif options:
            raise ValueError(f"no options type known for {opcode}: pass options_type")
        self.ops.append((o, version))

    def build(self, inputs: Sequence[int], outputs: Sequence[int]) -> bytes:
        s = self._s
        m = s.ModelT()
        m.version = 3
        m.description = "tinyml synth"
        codes = []
        for name in self.opcodes:
            oc = s.OperatorCodeT()
            code = getattr(s.BuiltinOperator, name)
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = max((v for o, v in self.ops if self.opcodes[o.opcodeIndex] == name), default=1)
            codes.append(oc)
        sg = s.SubGraphT()
        sg.tensors = self.tensors
        sg.operators = [o for o, _ in self.ops]
        sg.inputs, sg.outputs = list(inputs), list(outputs)
        sg.name = "main"
        m.operatorCodes, m.subgraphs, m.buffers = codes, [sg], self.buffers
        return pack(m)


def patch(raw: bytes, edit: Callable[[Any], None]) -> bytes:
    """Unpack a .tflite, let ``edit`` change the ModelT in place, pack it again."""
    m = schema().ModelT.InitFromPackedBuf(raw, 0)
    edit(m)
    return pack(m)


def patch_options(raw: bytes, op_index: int, **options: Any) -> bytes:
    """Change builtin options of one operator, e.g. fused_activation_function="RELU_N1_TO_1"."""

    def edit(m: Any) -> None:
        _set_options(m.subgraphs[0].operators[op_index].builtinOptions, options)

    return patch(raw, edit)
