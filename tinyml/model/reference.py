"""The numerical reference: the TFLite Micro host interpreter (PyPI ``tflite-micro``).

``run_reference`` runs a batch of samples through the interpreter in a CHILD process
(``python -m tinyml.model._reference_child``): once, in a process that had just converted a model
with TensorFlow, the runtime aborted; a crash of the child becomes a TinymlError instead of
killing tinyml. The child gets the model and the samples in an ``.npz`` and answers with one.

Quantization of float inputs and dequantization of outputs follow TFLite's own kernels
(``reference_ops::AffineQuantize`` and ``Dequantize``), so ``quantize_input`` gives the same
int8 values as a QUANTIZE op inside the model would:

- ``q = clamp(round(x / scale) + zero_point)`` where ``x / scale`` is computed in float32 (the kernel
  casts the scale to float) and ``round`` is ``std::round``: halves round AWAY from zero (numpy's
  ``np.round`` rounds halves to even, which differs on exact halves such as 0.5 -> 0, 1.5 -> 2).
- ``x = scale * (q - zero_point)`` computed in double, then cast to float32.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model import tflite
from tinyml.model.data import fit_samples

CHILD_MODULE = "tinyml.model._reference_child"
CHILD_ERROR_EXIT = 3  # the child's exit code for a clean, reported failure (message on stderr)
ERROR_MARK = "tinyml-reference-error: "

_INT_RANGES = {"int8": (-128, 127), "uint8": (0, 255), "int16": (-32768, 32767), "int32": (-2**31, 2**31 - 1)}


def round_half_away(v: np.ndarray) -> np.ndarray:
    """``std::round``: halves away from zero. Evaluated in float64 so that |v| + 0.5 is exact."""
    v64 = np.asarray(v, dtype=np.float64)
    return np.sign(v64) * np.floor(np.abs(v64) + 0.5)


def quantize_input(x: np.ndarray, tensor: tflite.Tensor) -> np.ndarray:
    """Float values -> the tensor's integer type with its scale and zero point (TFLite QUANTIZE)."""
    if tensor.dtype not in _INT_RANGES or tensor.quantization is None or tensor.scale == 0.0:
        raise TinymlError(f"tensor '{tensor.name}' ({tensor.dtype}) is not a quantized integer tensor",
                          hint="only int8/uint8/int16 model inputs are quantized", kind=ErrorKind.UNSUPPORTED)
    lo, hi = _INT_RANGES[tensor.dtype]
    scaled = np.asarray(x, dtype=np.float32) / np.float32(tensor.scale)
    q = round_half_away(scaled) + tensor.zero_point
    return np.clip(q, lo, hi).astype(tflite.dtype_to_numpy(tensor.dtype))


def dequantize_output(q: np.ndarray, tensor: tflite.Tensor) -> np.ndarray:
    """Integer values -> float32: ``scale * (q - zero_point)`` (TFLite DEQUANTIZE)."""
    if tensor.quantization is None or tensor.scale == 0.0:
        return np.asarray(q, dtype=np.float32)  # a float tensor is already real-valued
    diff = np.asarray(q, dtype=np.int64) - tensor.zero_point
    return (np.float64(tensor.scale) * diff).astype(np.float32)


def _single_io(model: tflite.Model) -> tuple[tflite.Tensor, tflite.Tensor]:
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise TinymlError(f"{model.label} has {len(model.inputs)} inputs and {len(model.outputs)} outputs",
                          hint="tinyml runs models with one input and one output", kind=ErrorKind.UNSUPPORTED)
    tin, tout = model.input_tensors()[0], model.output_tensors()[0]
    if not tin.shape or tin.shape[0] != 1:
        raise TinymlError(f"{model.label} has input shape {tin.shape}: tinyml runs models with a batch of 1",
                          hint="convert with the batch fixed to 1 (tinyml quantize does)", kind=ErrorKind.UNSUPPORTED)
    return tin, tout


def prepare_input(model: tflite.Model, x: np.ndarray, *, label: str = "the input") -> np.ndarray:
    """``x`` as (N, *sample_shape) in the model's input dtype; refuses lossy casts.

    Float data for an integer input must go through ``quantize_input`` first (the caller decides,
    and tells the user); integer data is accepted when it fits the input type.
    """
    tin, _ = _single_io(model)
    arr = fit_samples(np.asarray(x), tin.shape[1:], label=label, model_shape=tin.shape)
    np_type = tflite.dtype_to_numpy(tin.dtype)
    if np_type is None:
        raise TinymlError(f"the model input has type {tin.dtype}", hint="tinyml runs int8/float32 models",
                          kind=ErrorKind.UNSUPPORTED)
    if tin.dtype in _INT_RANGES:
        if not np.issubdtype(arr.dtype, np.integer):
            raise TinymlError(f"{label} is {arr.dtype} but the model input is {tin.dtype}",
                              hint="quantize it first (tinyml run does this for float data)", kind=ErrorKind.INPUT)
        lo, hi = _INT_RANGES[tin.dtype]
        if arr.min() < lo or arr.max() > hi:
            raise TinymlError(f"{label} holds values outside the {tin.dtype} range [{lo}, {hi}]",
                              hint=f"pass {tin.dtype} values, or floats to be quantized", kind=ErrorKind.INPUT)
    return np.ascontiguousarray(arr.astype(np_type))


def run_reference(model_bytes: bytes, x: np.ndarray, *, timeout: float = 600.0) -> np.ndarray:
    """Outputs of the TFLM host interpreter for every sample of ``x``.

    ``x`` is (N, *input_shape[1:]) or (N, *input_shape) in the model's input dtype; the result is
    (N, *output_shape[1:]) in the output dtype.
    """
    from tinyml import runner
    from tinyml.model.analysis import TFLM_RESOLVER, unsupported_ops_error

    model = tflite.parse(bytes(model_bytes))
    missing = [op for op in model.opcodes() if op not in TFLM_RESOLVER]
    if missing:  # name the op instead of TFLM's "allocation failed" after trying a 1 GB arena
        raise unsupported_ops_error(missing)
    _, tout = _single_io(model)
    arr = prepare_input(model, x)
    with tempfile.TemporaryDirectory(prefix="tinyml-ref-") as tmp:
        req, resp = Path(tmp) / "request.npz", Path(tmp) / "response.npz"
        np.savez(req, model=np.frombuffer(model.raw, dtype=np.uint8), x=arr)
        res = runner.run([sys.executable, "-m", CHILD_MODULE, str(req), str(resp)], timeout=timeout, check=False,
                         what="the TFLM reference interpreter")
        if res.returncode != 0:
            raise _child_failure(res.returncode, res.stderr)
        with np.load(resp, allow_pickle=False) as out:
            y = out["y"]
    want = tflite.dtype_to_numpy(tout.dtype)
    if want is not None and y.dtype != np.dtype(want):
        raise TinymlError(f"the reference interpreter returned {y.dtype}, the model output is {tout.dtype}",
                          kind=ErrorKind.TOOL)
    return y


def _child_failure(code: int, stderr: str) -> TinymlError:
    for line in stderr.splitlines():
        if line.startswith(ERROR_MARK):
            return TinymlError(f"the TFLM reference interpreter cannot run this model: {line[len(ERROR_MARK):]}",
                               hint="check the model's ops and types with `tinyml inspect`",
                               kind=ErrorKind.UNSUPPORTED)
    tail = "; ".join(stderr.strip().splitlines()[-3:])
    how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
    return TinymlError(f"the TFLM reference interpreter {how}" + (f": {tail}" if tail else ""),
                       hint=f"rerun with -v to see the command (python -m {CHILD_MODULE} ...)",
                       kind=ErrorKind.TOOL)


ENGINES = ("tflm", "aot")


@dataclass
class HostRun:
    engine: str
    model: tflite.Model
    outputs: np.ndarray  # (N, *output_sample) in the output dtype
    dequantized: np.ndarray | None  # float32 outputs when the output is quantized, else None
    notes: list[str] = field(default_factory=list)  # what tinyml did to the input, for stderr

    def to_dict(self) -> dict[str, Any]:
        tout = self.model.output_tensors()[0]
        return {"engine": self.engine, "model_sha256": self.model.sha256, "samples": int(self.outputs.shape[0]),
                "output_dtype": tout.dtype, "output_shape": list(tout.shape),
                "outputs": self.outputs.tolist(),
                "dequantized": None if self.dequantized is None else self.dequantized.tolist(),
                "notes": self.notes}


def run_engine(model: tflite.Model, x: np.ndarray, engine: str = "tflm") -> np.ndarray:
    """Outputs of ``engine`` on the host for ``x`` already in the model's input dtype."""
    if engine == "tflm":
        return run_reference(model.raw, x)
    if engine == "aot":
        try:
            from tinyml.codegen.aot.host import run_aot
        except ImportError as exc:
            if exc.name is not None and not exc.name.startswith("tinyml"):
                raise  # a broken dependency, not a missing engine
            raise TinymlError("the aot engine is not available in this tinyml", hint="use --engine tflm",
                              kind=ErrorKind.UNSUPPORTED) from exc
        return np.asarray(run_aot(model, x))
    raise TinymlError(f"unknown engine '{engine}'", hint="use --engine tflm or --engine aot", kind=ErrorKind.USAGE)


def run_file(model_path: str | Path, input_path: str | Path, *, engine: str = "tflm",
             output: str | Path | None = None) -> HostRun:
    """``tinyml run``: a .tflite on the host over the samples of an .npy/.npz file.

    Float samples for a quantized input are quantized with the input tensor's scale and zero point
    (noted in ``notes``). With ``output``, the raw outputs are saved as .npy (atomically).
    """
    import io

    from tinyml.model.data import load_data
    from tinyml.writer import write_file

    if engine not in ENGINES:
        raise TinymlError(f"unknown engine '{engine}'", hint="use --engine tflm or --engine aot", kind=ErrorKind.USAGE)
    if output is not None:
        from tinyml.model.quantize import check_output_path

        if Path(output).suffix != ".npy":
            raise TinymlError(f"output {output} must be a .npy file", hint="e.g. --output y.npy", kind=ErrorKind.USAGE)
        check_output_path(output)
    model = tflite.load(model_path)
    tin, tout = _single_io(model)
    data = load_data(input_path, what="input")
    x = fit_samples(data.x, tin.shape[1:], label=f"input {input_path}", model_shape=tin.shape)
    notes: list[str] = []
    if tin.dtype in _INT_RANGES and np.issubdtype(x.dtype, np.floating):
        x = quantize_input(x, tin)
        notes.append(f"float input quantized to {tin.dtype} with the model's input scale {tin.scale:.6g} "
                     f"and zero point {tin.zero_point}")
    x = prepare_input(model, x, label=f"input {input_path}")
    y = run_engine(model, x, engine)
    deq = dequantize_output(y, tout) if tout.dtype in _INT_RANGES and tout.quantization is not None else None
    if output is not None:
        buf = io.BytesIO()
        np.save(buf, y, allow_pickle=False)
        write_file(output, buf.getvalue())
    return HostRun(engine, model, y, deq, notes)
