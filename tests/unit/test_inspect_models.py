"""TF-free test models built with the flatbuffer object API, and the int8 scheme checks on them.

The builder writes small but valid .tflite files (the TFLM host interpreter runs the int8 ones),
with every shape chosen here, so the analysis tests can compute the expected MACs themselves.
Other test modules import it: ``from test_inspect_models import ...`` (tests/unit is on sys.path)
or by file path.
"""

from __future__ import annotations

from typing import Any

import flatbuffers
import numpy as np
import pytest

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model import checks
from tinyml.model.tflite import parse, schema

_TYPES = {"float32": 0, "float16": 1, "int32": 2, "uint8": 3, "int64": 4, "int16": 7, "int8": 9}
_NP = {"float32": np.float32, "float16": np.float16, "int32": np.int32, "uint8": np.uint8, "int64": np.int64,
       "int16": np.int16, "int8": np.int8}


class GraphBuilder:
    """Accumulates tensors and operators; ``build()`` returns .tflite bytes."""

    def __init__(self, seed: int = 0) -> None:
        self.s = schema()
        self.rng = np.random.default_rng(seed)
        self.tensors: list[Any] = []
        self.buffers: list[Any] = [self.s.BufferT()]  # buffer 0: the empty sentinel
        self.opcodes: list[tuple[str, int]] = []
        self.ops: list[Any] = []

    def tensor(self, shape: list[int], dtype: str = "int8", data: np.ndarray | None = None,
               scale: float | list[float] | None = None, zp: int | list[int] | None = None, axis: int = 0,
               name: str | None = None) -> int:
        s = self.s
        t = s.TensorT()
        t.shape = np.array(shape, dtype=np.int32)
        t.type = _TYPES[dtype]
        t.name = name or f"t{len(self.tensors)}"
        if data is not None:
            buf = s.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype=_NP[dtype]).tobytes(), dtype=np.uint8)
            self.buffers.append(buf)
            t.buffer = len(self.buffers) - 1
        else:
            self.buffers.append(s.BufferT())
            t.buffer = len(self.buffers) - 1
        if scale is not None:
            q = s.QuantizationParametersT()
            scales = np.atleast_1d(np.asarray(scale, dtype=np.float32))
            q.scale = scales
            q.zeroPoint = np.broadcast_to(np.asarray(zp if zp is not None else 0, dtype=np.int64),
                                          scales.shape).copy()
            q.quantizedDimension = axis
            t.quantization = q
        self.tensors.append(t)
        return len(self.tensors) - 1

    def weights(self, shape: list[int], dtype: str = "int8") -> np.ndarray:
        if dtype == "int8":
            return self.rng.integers(-127, 128, size=shape).astype(np.int8)
        if dtype == "uint8":
            return self.rng.integers(0, 256, size=shape).astype(np.uint8)
        if dtype == "int32":
            return self.rng.integers(-1000, 1000, size=shape).astype(np.int32)
        return (self.rng.standard_normal(size=shape) * 0.1).astype(_NP[dtype])

    def op(self, opcode: str, inputs: list[int], outputs: list[int], options: str | None = None,
           **fields: Any) -> None:
        s = self.s
        key = (opcode, 1)
        if key not in self.opcodes:
            self.opcodes.append(key)
        o = s.OperatorT()
        o.opcodeIndex = self.opcodes.index(key)
        o.inputs = np.array(inputs, dtype=np.int32)
        o.outputs = np.array(outputs, dtype=np.int32)
        if options is not None:
            opt = getattr(s, f"{options}T")()
            for k, v in fields.items():
                setattr(opt, k, v)
            o.builtinOptionsType = getattr(s.BuiltinOptions, options)
            o.builtinOptions = opt
        self.ops.append(o)

    def build(self, inputs: list[int], outputs: list[int]) -> bytes:
        s = self.s
        m = s.ModelT()
        m.version = 3
        m.description = "tinyml test model"
        m.buffers = self.buffers
        codes = []
        for name, version in self.opcodes:
            oc = s.OperatorCodeT()
            if name.startswith("CUSTOM:"):
                code = s.BuiltinOperator.CUSTOM
                oc.customCode = name.split(":", 1)[1]
            else:
                code = getattr(s.BuiltinOperator, name)
            oc.builtinCode = code
            oc.deprecatedBuiltinCode = min(code, 127)
            oc.version = version
            codes.append(oc)
        m.operatorCodes = codes
        sg = s.SubGraphT()
        sg.tensors = self.tensors
        sg.operators = self.ops
        sg.inputs = np.array(inputs, dtype=np.int32)
        sg.outputs = np.array(outputs, dtype=np.int32)
        sg.name = "main"
        m.subgraphs = [sg]
        b = flatbuffers.Builder(1024)
        b.Finish(m.Pack(b), file_identifier=b"TFL3")
        return bytes(b.Output())


NONE, RELU = 0, 1
SAME, VALID = 0, 1


def fc_model(n_in: int = 16, units: int = 8, batch: int = 1, dtype: str = "int8", float_io: bool = False,
             weight_dtype: str | None = None) -> bytes:
    """One FULLY_CONNECTED layer. dtype "float32" gives a float model; weight_dtype "int8" with float
    activations gives a hybrid one; dtype "uint8" the TF1 scheme; float_io wraps int8 in QUANTIZE/DEQUANTIZE."""
    g = GraphBuilder()
    wdt = weight_dtype or dtype
    quant = dtype in ("int8", "uint8", "int16")
    zp_act = 128 if dtype == "uint8" else 0
    x = g.tensor([batch, n_in], dtype, scale=0.05 if quant else None, zp=zp_act if quant else None, name="input")
    wq = wdt in ("int8", "uint8")
    w = g.tensor([units, n_in], wdt, data=g.weights([units, n_in], wdt), scale=0.02 if wq else None,
                 zp=(128 if wdt == "uint8" else 0) if wq else None, name="weights")
    bias_dt = "int32" if quant else "float32"
    b = g.tensor([units], bias_dt, data=g.weights([units], bias_dt), scale=0.001 if quant else None,
                 zp=0 if quant else None, name="bias")
    y = g.tensor([batch, units], dtype, scale=0.1 if quant else None, zp=zp_act if quant else None, name="output")
    ins, outs = [x], [y]
    if float_io:
        fx = g.tensor([batch, n_in], "float32", name="input_f")
        fy = g.tensor([batch, units], "float32", name="output_f")
        g.op("QUANTIZE", [fx], [x])
        ins, outs = [fx], [fy]
    g.op("FULLY_CONNECTED", [x, w, b], [y], "FullyConnectedOptions", fusedActivationFunction=RELU)
    if float_io:
        g.op("DEQUANTIZE", [y], [outs[0]])
    return g.build(ins, outs)


# The CNN's geometry, shared with the tests that compute its MACs.
CNN = {"in": (10, 10, 3), "conv_out_c": 8, "conv_k": 3, "conv_stride": 2, "conv_hw": 5,
       "dw_mult": 2, "dw_k": 3, "pool": 2, "pool_hw": 2, "classes": 10}


def cnn_model() -> bytes:
    """CONV_2D (stride 2, SAME, per-channel) -> DEPTHWISE (x2) -> AVERAGE_POOL -> RESHAPE -> FC -> SOFTMAX, int8."""
    c = CNN
    g = GraphBuilder(seed=1)
    h, w, ic = c["in"]
    oc, k, hw = c["conv_out_c"], c["conv_k"], c["conv_hw"]
    x = g.tensor([1, h, w, ic], scale=0.02, zp=-128, name="image")
    f = g.tensor([oc, k, k, ic], data=g.weights([oc, k, k, ic]), scale=[0.01 + 0.001 * i for i in range(oc)],
                 zp=[0] * oc, axis=0, name="conv/filter")
    fb = g.tensor([oc], "int32", data=g.weights([oc], "int32"), scale=[0.0002] * oc, zp=[0] * oc, name="conv/bias")
    y1 = g.tensor([1, hw, hw, oc], scale=0.05, zp=-128, name="conv")
    g.op("CONV_2D", [x, f, fb], [y1], "Conv2DOptions", padding=SAME, strideW=c["conv_stride"],
         strideH=c["conv_stride"], fusedActivationFunction=RELU)
    dc = oc * c["dw_mult"]
    dk = c["dw_k"]
    df = g.tensor([1, dk, dk, dc], data=g.weights([1, dk, dk, dc]), scale=[0.01] * dc, zp=[0] * dc, axis=3,
                  name="dw/filter")
    db = g.tensor([dc], "int32", data=g.weights([dc], "int32"), scale=[0.0005] * dc, zp=[0] * dc, name="dw/bias")
    y2 = g.tensor([1, hw, hw, dc], scale=0.05, zp=-128, name="dw")
    g.op("DEPTHWISE_CONV_2D", [y1, df, db], [y2], "DepthwiseConv2DOptions", padding=SAME, strideW=1, strideH=1,
         depthMultiplier=c["dw_mult"], fusedActivationFunction=RELU)
    p, phw = c["pool"], c["pool_hw"]
    y3 = g.tensor([1, phw, phw, dc], scale=0.05, zp=-128, name="pool")
    g.op("AVERAGE_POOL_2D", [y2], [y3], "Pool2DOptions", padding=VALID, strideW=p, strideH=p, filterWidth=p,
         filterHeight=p)
    flat = phw * phw * dc
    shape = g.tensor([2], "int32", data=np.array([1, flat], dtype=np.int32), name="shape")
    y4 = g.tensor([1, flat], scale=0.05, zp=-128, name="flat")
    g.op("RESHAPE", [y3, shape], [y4])
    n = c["classes"]
    fw = g.tensor([n, flat], data=g.weights([n, flat]), scale=0.01, zp=0, name="fc/weights")
    fbias = g.tensor([n], "int32", data=g.weights([n], "int32"), scale=0.0005, zp=0, name="fc/bias")
    y5 = g.tensor([1, n], scale=0.1, zp=0, name="logits")
    g.op("FULLY_CONNECTED", [y4, fw, fbias], [y5], "FullyConnectedOptions")
    y6 = g.tensor([1, n], scale=1 / 256, zp=-128, name="probs")
    g.op("SOFTMAX", [y5], [y6], "SoftmaxOptions", beta=1.0)
    return g.build([x], [y6])


def float16_model() -> bytes:
    """float16 weights dequantized at run time, float32 activations (converter's float16 option)."""
    g = GraphBuilder()
    x = g.tensor([1, 4], "float32")
    w16 = g.tensor([3, 4], "float16", data=g.weights([3, 4], "float16"))
    w = g.tensor([3, 4], "float32")
    y = g.tensor([1, 3], "float32")
    g.op("DEQUANTIZE", [w16], [w])
    g.op("FULLY_CONNECTED", [x, w, -1], [y], "FullyConnectedOptions")
    return g.build([x], [y])


def int16_model() -> bytes:
    """16x8: int16 activations, int8 weights."""
    g = GraphBuilder()
    x = g.tensor([1, 4], "int16", scale=0.001, zp=0)
    w = g.tensor([3, 4], data=g.weights([3, 4]), scale=0.01, zp=0)
    y = g.tensor([1, 3], "int16", scale=0.001, zp=0)
    g.op("FULLY_CONNECTED", [x, w, -1], [y], "FullyConnectedOptions")
    return g.build([x], [y])


def requantize_model() -> bytes:
    """An int8 -> int8 QUANTIZE (rescale) inside an int8 model: still full-integer."""
    g = GraphBuilder()
    x = g.tensor([1, 4], scale=0.1, zp=0)
    y = g.tensor([1, 4], scale=0.05, zp=3)
    g.op("QUANTIZE", [x], [y])
    return g.build([x], [y])


pytestmark = pytest.mark.unit


@pytest.mark.parametrize("make, kind", [
    (lambda: fc_model(), checks.INT8),
    (lambda: cnn_model(), checks.INT8),
    (lambda: fc_model(float_io=True), checks.INT8_FLOAT_IO),
    (lambda: requantize_model(), checks.INT8),
    (lambda: fc_model(dtype="float32"), checks.FLOAT),
    (lambda: float16_model(), checks.FLOAT),
    (lambda: fc_model(dtype="float32", weight_dtype="int8"), checks.HYBRID),
    (lambda: fc_model(dtype="uint8"), checks.UINT8),
    (lambda: int16_model(), checks.INT16),
], ids=["int8-fc", "int8-cnn", "float-io", "requantize", "float", "float16", "hybrid", "uint8", "int16"])
def test_classify(make, kind):
    scheme = checks.classify(parse(make()))
    assert scheme.kind == kind
    assert scheme.deployable == (kind in (checks.INT8, checks.INT8_FLOAT_IO))


@pytest.mark.parametrize("make, words", [
    (lambda: fc_model(dtype="float32"), ["float model", "tinyml quantize", "--data"]),
    (lambda: float16_model(), ["float16 weights", "tinyml quantize"]),
    (lambda: fc_model(dtype="float32", weight_dtype="int8"), ["hybrid", "dynamic range", "full integer"]),
    (lambda: fc_model(dtype="uint8"), ["uint8", "deprecated", "TF1", "int8"]),
    (lambda: int16_model(), ["int16", "int8 activations"]),
], ids=["float", "float16", "hybrid", "uint8", "int16"])
def test_require_int8_explains(make, words):
    with pytest.raises(TinymlError) as exc:
        checks.require_int8(parse(make()))
    assert exc.value.kind is ErrorKind.UNSUPPORTED
    text = f"{exc.value.message} {exc.value.hint}"
    for w in words:
        assert w in text, (w, text)


def test_require_int8_accepts_float_io():
    assert checks.require_int8(parse(fc_model(float_io=True))).kind == checks.INT8_FLOAT_IO
