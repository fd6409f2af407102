"""Full-integer int8 conversion of Keras models (TensorFlow imported lazily, only here)."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError
from tinyml.model.metrics import Comparison, check_targets, compare

log = logging.getLogger("tinyml.quantize")
TF_HINT = "install the TensorFlow extra: pip install 'tinyml[tf]' (or pip install tensorflow==2.21.0)"


@contextlib.contextmanager
def native_stderr_to_log(what: str) -> Iterator[None]:
    """Send what C++ code writes on fd 2 (absl's CUDA notice, the converter's "fully_quantize: ..."
    lines) to the log (seen with ``tinyml -v``) instead of the user's terminal."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real fd (pytest capture, notebooks): leave it
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), fd)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, fd)
            os.close(saved)
            sink.seek(0)
            text = sink.read().decode(errors="replace").strip()
            if text:
                log.info("%s wrote on stderr:\n%s", what, text)


def import_tf() -> Any:
    """TensorFlow, or a TinymlError saying exactly what to install."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        with native_stderr_to_log("importing TensorFlow"):
            import tensorflow as tf
    except ImportError as exc:
        raise TinymlError("TensorFlow is not installed; `tinyml quantize` needs it", hint=TF_HINT,
                          kind=ErrorKind.TOOL) from exc
    return tf


def quantize_keras(model: Any, rep_x: np.ndarray, *, float_io: bool = False, max_samples: int = 500) -> bytes:
    """Convert a Keras model to a full-integer int8 .tflite (batch fixed to 1, per-channel weights).

    ``rep_x`` holds representative inputs (N, *input_shape) used to calibrate activation ranges.
    With ``float_io`` the model keeps float32 I/O and gets QUANTIZE/DEQUANTIZE at its edges.
    """
    tf = import_tf()
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    rep = np.asarray(rep_x, dtype=np.float32)
    if rep.shape[1:] != shape:
        raise TinymlError(f"representative data has samples of shape {rep.shape[1:]}, the model takes {shape}",
                          hint="pass data with array x of shape (N, " + ", ".join(map(str, shape)) + ")",
                          kind=ErrorKind.INPUT)

    def gen() -> Iterator[list[np.ndarray]]:
        for sample in rep[:max_samples]:
            yield [sample[None, ...]]

    io_type = tf.float32 if float_io else tf.int8
    with tempfile.TemporaryDirectory(prefix="tinyml-quantize-") as tmp:
        out = Path(tmp) / "model.tflite"
        # model.export with a fixed batch of 1: from_keras_model keeps a dynamic batch and adds
        # SHAPE/STRIDED_SLICE/PACK ops microcontroller runtimes do not want.
        try:
            with native_stderr_to_log("the TFLite converter"):
                model.export(str(out), format="litert", verbose=False,
                             input_signature=[tf.TensorSpec([1, *shape], tf.float32)],
                             optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=gen,
                             target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
                             inference_input_type=io_type, inference_output_type=io_type)
        except Exception as exc:  # ConverterError and whatever the exporter raises
            raise conversion_error(exc) from exc
        return out.read_bytes()


def conversion_error(exc: BaseException) -> TinymlError:
    """A converter failure as one line: the TensorFlow ops with no int8 builtin when it names them."""
    text = str(exc)
    ops = sorted(set(re.findall(r"'tf\.(\w+)' op is neither a custom op nor a flex op", text)))
    if ops:
        return TinymlError(f"the model uses TensorFlow ops that have no int8 TFLite builtin: {', '.join(ops)}",
                           hint="replace those layers (microcontroller runtimes run builtin ops only)",
                           kind=ErrorKind.UNSUPPORTED)
    first = next((line.strip() for line in text.splitlines() if line.strip()), type(exc).__name__)
    return TinymlError(f"int8 conversion failed: {first[:300]}",
                       hint="run with -v to see the converter's log", kind=ErrorKind.UNSUPPORTED)


def float_tflite(model: Any) -> bytes:
    """The same model as a float32 .tflite (batch 1, no quantization): the size int8 is compared with."""
    tf = import_tf()
    shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    with tempfile.TemporaryDirectory(prefix="tinyml-float-") as tmp:
        out = Path(tmp) / "model.tflite"
        with native_stderr_to_log("the TFLite converter"):
            model.export(str(out), format="litert", verbose=False,
                         input_signature=[tf.TensorSpec([1, *shape], tf.float32)])
        return out.read_bytes()


@dataclass
class QuantizeReport:
    source: str
    output: str
    sha256: str
    float_bytes: int  # float32 .tflite of the same model
    int8_bytes: int
    input_tensor: dict[str, Any]  # name, dtype, shape, scale, zero_point of the int8 model's input
    output_tensor: dict[str, Any]
    comparison: Comparison | None = None  # with --val: float vs int8 on the held-out data

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["comparison"] = self.comparison.to_dict() if self.comparison else None
        return d


def _io_dict(t: Any) -> dict[str, Any]:
    return {"name": t.name, "dtype": t.dtype, "shape": list(t.shape),
            "scale": t.scale if t.quantization else None,
            "zero_point": t.zero_point if t.quantization else None}


def check_output_path(output: str | Path) -> Path:
    """Refuse an output path we cannot write, before any slow work happens."""
    out = Path(output)
    parent = out.absolute().parent
    if out.is_dir():
        raise TinymlError(f"output {out} is a directory", hint="pass a file name such as model.tflite",
                          kind=ErrorKind.OUTPUT)
    if not parent.is_dir():
        raise TinymlError(f"output directory {parent} does not exist", hint="create it first or choose another -o",
                          kind=ErrorKind.OUTPUT)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise TinymlError(f"output directory {parent} is not writable", hint="choose a writable -o path",
                          kind=ErrorKind.OUTPUT)
    return out


def quantize_file(model_path: str | Path, data_path: str | Path, output: str | Path, *,
                  val_path: str | Path | None = None, float_io: bool = False) -> QuantizeReport:
    """``tinyml quantize``: Keras/SavedModel + representative data -> int8 .tflite, with a float-vs-int8 report.

    Everything cheap (paths, data files, the output directory) is checked before TensorFlow loads.
    The int8 model is measured with the TFLM host interpreter, the float one with Keras.
    """
    from tinyml.model import keras_io, tflite
    from tinyml.model.data import fit_samples, load_data
    from tinyml.model.reference import dequantize_output, quantize_input, run_reference
    from tinyml.writer import write_file

    out = check_output_path(output)
    keras_io.check_model_path(model_path)
    rep = load_data(data_path, what="representative data")
    val = load_data(val_path, what="validation data") if val_path is not None else None
    if val is not None and val.y is None:
        raise TinymlError(f"validation data {val_path} has no array 'y'",
                          hint="save labels (int) or targets (float) with np.savez(path, x=..., y=...)",
                          kind=ErrorKind.INPUT)
    for ds, name in ((rep, "representative data"), (val, "validation data")):
        if ds is not None and np.issubdtype(ds.x.dtype, np.floating) and not np.isfinite(ds.x).all():
            raise TinymlError(f"{name} {ds.path} contains NaN or infinite values in x",
                              hint="clean the data: np.isfinite(x).all() must hold", kind=ErrorKind.INPUT)
    model = keras_io.load_model(model_path)
    in_shape = tuple(int(d) for d in model.inputs[0].shape[1:])
    full = (1, *in_shape)
    rep_x = fit_samples(rep.x, in_shape, label=f"representative data {data_path}", model_shape=full)
    val_x = fit_samples(val.x, in_shape, label=f"validation data {val_path}", model_shape=full) if val else None
    if val is not None and val.y is not None:
        check_targets(val.y, tuple(int(d) for d in model.outputs[0].shape[1:]), label=f"validation data {val_path}")

    int8 = quantize_keras(model, rep_x.astype(np.float32), float_io=float_io)
    parsed = tflite.parse(int8)
    tin, tout = parsed.input_tensors()[0], parsed.output_tensors()[0]
    comparison = None
    if val is not None and val_x is not None and val.y is not None:
        xf = val_x.astype(np.float32)
        float_out = np.asarray(model.predict(xf, batch_size=64, verbose=0))
        feed = xf if tin.dtype == "float32" else quantize_input(xf, tin)
        int8_out = dequantize_output(run_reference(int8, feed), tout)
        comparison = compare(float_out, int8_out, val.y)
    float_size = len(float_tflite(model))
    write_file(out, int8)
    return QuantizeReport(str(model_path), str(out), parsed.sha256, float_size, len(int8), _io_dict(tin),
                          _io_dict(tout), comparison)
