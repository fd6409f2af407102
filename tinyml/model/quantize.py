"""Full-integer int8 conversion of Keras models (TensorFlow imported lazily, only here)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError

TF_HINT = "install the TensorFlow extra: pip install 'tinyml[tf]' (or pip install tensorflow==2.21.0)"


def import_tf() -> Any:
    """TensorFlow, or a TinymlError saying exactly what to install."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
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
        model.export(str(out), format="litert", verbose=False,
                     input_signature=[tf.TensorSpec([1, *shape], tf.float32)],
                     optimizations=[tf.lite.Optimize.DEFAULT], representative_dataset=gen,
                     target_spec={"supported_ops": [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]},
                     inference_input_type=io_type, inference_output_type=io_type)
        return out.read_bytes()
