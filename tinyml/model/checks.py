"""Is this .tflite a full-integer int8 model, the only kind tinyml deploys?

TFLite files come in several quantization schemes that look alike from the outside. Only one
runs on the int8 kernels of TFLite Micro and of our aot engine: int8 activations and weights
everywhere, int32 biases. ``classify`` names the scheme of a model; ``require_int8`` turns every
other scheme into an error that says what the model is and how to re-export it.

Schemes told apart here:

- ``int8``: full-integer, int8 inputs and outputs.
- ``int8-float-io``: full-integer inside, float32 at the edges through QUANTIZE / DEQUANTIZE
  (``tinyml quantize --float-io``). Deployable: the device runs those two ops too.
- ``float``: float32 activations and weights (no optimization, or float16 weights that a
  DEQUANTIZE turns back into float32).
- ``hybrid``: "dynamic range" quantization: int8 weights, float32 activations; the kernels
  quantize activations on the fly. TFLite Micro has no such kernels.
- ``uint8``: the TF1 quantization-aware scheme (asymmetric uint8); deprecated, TFLM dropped it.
- ``int16``: 16-bit activations with int8 weights ("16x8"); not an int8 model.
"""

from __future__ import annotations

from dataclasses import dataclass

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.tflite import Model, Operator

INT8 = "int8"
INT8_FLOAT_IO = "int8-float-io"
FLOAT = "float"
HYBRID = "hybrid"
UINT8 = "uint8"
INT16 = "int16"
DEPLOYABLE = (INT8, INT8_FLOAT_IO)

_FLOATS = ("float32", "float16", "float64")
_QUANT_CMD = "tinyml quantize MODEL.keras --data rep.npz -o model.tflite"


@dataclass(frozen=True)
class Scheme:
    """What a model is, in one word (``kind``) and one sentence (``detail``)."""

    kind: str
    detail: str

    @property
    def deployable(self) -> bool:
        return self.kind in DEPLOYABLE


def _activation_dtypes(model: Model, op: Operator) -> set[str]:
    """Dtypes of the non-constant tensors an op reads and writes."""
    out: set[str] = set()
    for i in (*op.inputs, *op.outputs):
        if i >= 0 and not model.tensors[i].is_constant:
            out.add(model.tensors[i].dtype)
    return out


def _constant_weight_dtypes(model: Model, op: Operator) -> set[str]:
    out: set[str] = set()
    for i in op.inputs:
        if i >= 0 and model.tensors[i].is_constant:
            out.add(model.tensors[i].dtype)
    return out


def classify(model: Model) -> Scheme:
    """The quantization scheme of ``model`` (see the module docstring)."""
    graph_inputs, graph_outputs = set(model.inputs), set(model.outputs)
    uint8_tensors = [t for t in model.tensors if t.dtype == "uint8" and t.quantization is not None]
    if uint8_tensors:
        return Scheme(UINT8, f"it uses uint8 quantized tensors (e.g. '{uint8_tensors[0].name}'), the deprecated "
                             "TF1 quantization scheme that TFLite Micro no longer runs")
    hybrid_ops: list[str] = []
    float_ops: list[str] = []
    int16_ops: list[str] = []
    edge_ops = 0
    float16_weights = False
    for op in model.operators:
        acts = _activation_dtypes(model, op)
        consts = _constant_weight_dtypes(model, op)
        if op.opcode == "DEQUANTIZE":
            src = model.tensors[op.inputs[0]] if op.inputs and op.inputs[0] >= 0 else None
            if src is not None and src.is_constant:
                # A constant dequantized at run time: float16 weights, or int8 weights of a hybrid model.
                if src.dtype == "float16":
                    float16_weights = True
                    float_ops.append(op.opcode)
                else:
                    hybrid_ops.append(op.opcode)
                continue
            if src is not None and src.dtype == "int8" and all(o in graph_outputs for o in op.outputs):
                edge_ops += 1
                continue
        if op.opcode == "QUANTIZE" and op.inputs and op.inputs[0] >= 0:
            src = model.tensors[op.inputs[0]]
            if src.dtype in _FLOATS and op.inputs[0] in graph_inputs and \
                    all(model.tensors[o].dtype == "int8" for o in op.outputs):
                edge_ops += 1
                continue
        if acts & set(_FLOATS):
            if consts & {"int8", "uint8"}:
                hybrid_ops.append(op.opcode)
            else:
                float_ops.append(op.opcode)
            if consts & {"float16"}:
                float16_weights = True
        elif "int16" in acts:
            int16_ops.append(op.opcode)
    if hybrid_ops:
        return Scheme(HYBRID, f"it is a hybrid (dynamic range) model: int8 weights but float32 activations "
                              f"(e.g. {hybrid_ops[0]}); TFLite Micro has no hybrid kernels")
    if float_ops:
        what = "float16 weights and float32 activations" if float16_weights else "float32 weights and activations"
        return Scheme(FLOAT, f"it is a float model ({what}, e.g. {float_ops[0]})")
    if int16_ops:
        return Scheme(INT16, f"it has int16 activations (16x8 quantization, e.g. {int16_ops[0]}), not int8")
    if edge_ops:
        return Scheme(INT8_FLOAT_IO, "full-integer int8 inside, float32 inputs/outputs via QUANTIZE/DEQUANTIZE")
    return Scheme(INT8, "full-integer int8")


_HINTS = {
    FLOAT: f"quantize it to full int8 with representative data: {_QUANT_CMD} (add --float-io to keep float I/O)",
    HYBRID: "dynamic range quantization (optimizations=[DEFAULT] without a representative dataset) only "
            f"quantizes weights; re-export with full integer quantization: {_QUANT_CMD}",
    UINT8: "re-export from the float Keras model with full integer int8 quantization "
           f"(TF2 converter or {_QUANT_CMD})",
    INT16: f"re-export with int8 activations: {_QUANT_CMD}",
}


def hint_for(scheme: Scheme) -> str | None:
    return _HINTS.get(scheme.kind)


def require_int8(model: Model) -> Scheme:
    """The model's scheme if it is deployable as int8; otherwise a TinymlError explaining why not."""
    scheme = classify(model)
    if not scheme.deployable:
        raise TinymlError(f"{model.label} cannot take the int8 path: {scheme.detail}", hint=hint_for(scheme),
                          kind=ErrorKind.UNSUPPORTED)
    return scheme
