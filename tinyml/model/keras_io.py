"""Loading the models ``tinyml quantize`` takes: Keras ``.keras`` / ``.h5`` files and SavedModel folders.

Cheap checks (does it exist, is it a kind of file we read) run before TensorFlow is imported, so
a typo costs milliseconds, not the 5 s TensorFlow import.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from tinyml.errors import ErrorKind, TinymlError

KERAS_SUFFIXES = (".keras", ".h5", ".hdf5")
MODEL_HINT = "pass a Keras model (.keras or .h5, saved with model.save) or a SavedModel directory"


def check_model_path(path: str | Path) -> str:
    """The kind of model at ``path`` ("keras" or "saved_model"), or a TinymlError; no TensorFlow needed."""
    p = Path(path)
    if not p.exists():
        raise TinymlError(f"model {p} does not exist", hint="check the path", kind=ErrorKind.INPUT)
    if p.is_dir():
        if not (p / "saved_model.pb").exists():
            raise TinymlError(f"{p} is a directory without saved_model.pb, so not a SavedModel", hint=MODEL_HINT,
                              kind=ErrorKind.INPUT)
        return "saved_model"
    if p.suffix.lower() == ".tflite":
        raise TinymlError(f"{p} is already a .tflite model", kind=ErrorKind.INPUT,
                          hint="quantize takes the Keras model it came from; run or inspect the .tflite directly")
    if p.suffix.lower() not in KERAS_SUFFIXES:
        raise TinymlError(f"{p} is not a Keras model file (expected .keras, .h5 or a SavedModel directory)",
                          hint=MODEL_HINT, kind=ErrorKind.INPUT)
    if p.suffix.lower() == ".keras":
        if not zipfile.is_zipfile(p):
            raise TinymlError(f"{p} is not a Keras model: a .keras file is a zip archive and this one is not",
                              hint=MODEL_HINT, kind=ErrorKind.INPUT)
        with zipfile.ZipFile(p) as z:
            if "config.json" not in z.namelist():
                raise TinymlError(f"{p} is a zip archive but not a Keras model (it has no config.json)",
                                  hint=MODEL_HINT, kind=ErrorKind.INPUT)
    if p.suffix.lower() in (".h5", ".hdf5") and p.read_bytes()[:8] != b"\x89HDF\r\n\x1a\n":
        raise TinymlError(f"{p} is not a Keras model: it is not an HDF5 file", hint=MODEL_HINT, kind=ErrorKind.INPUT)
    return "keras"


def load_model(path: str | Path) -> Any:
    """A ``keras.Model`` with one input, from a .keras/.h5 file or a SavedModel directory."""
    kind = check_model_path(path)
    from tinyml.model.quantize import import_tf

    import_tf()
    import keras

    p = Path(path)
    try:
        model = keras.models.load_model(p, compile=False) if kind == "keras" else _from_saved_model(keras, p)
    except TinymlError:
        raise
    except Exception as exc:  # keras raises anything from ValueError to OSError on a bad file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise TinymlError(f"cannot load {p} as a Keras model: {first}", hint=MODEL_HINT, kind=ErrorKind.INPUT) from exc
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError) as exc:  # e.g. a Sequential model that was never built
        raise TinymlError(f"{p} has no defined inputs", hint="build the model with keras.Input(shape=...) and save it",
                          kind=ErrorKind.INPUT) from exc
    if len(inputs) != 1 or len(outputs) != 1:
        raise TinymlError(f"{p} has {len(inputs)} inputs and {len(outputs)} outputs",
                          hint="tinyml handles models with one input and one output", kind=ErrorKind.UNSUPPORTED)
    shape = tuple(inputs[0].shape)
    if any(d is None for d in shape[1:]):
        raise TinymlError(f"{p} takes inputs of shape {shape}: only the batch axis may be unknown",
                          hint="a microcontroller model needs a fixed sample shape: keras.Input(shape=(...))",
                          kind=ErrorKind.UNSUPPORTED)
    return model


def _from_saved_model(keras: Any, p: Path) -> Any:
    """Wrap a SavedModel's serving signature as a Keras model with a known input shape.

    The signature's batch axis is dynamic; quantize_keras then exports it with the batch fixed to 1.
    """
    import tensorflow as tf

    loaded = tf.saved_model.load(str(p))
    endpoint = "serving_default"
    if endpoint not in loaded.signatures:
        raise TinymlError(f"SavedModel {p} has no '{endpoint}' signature (it has: "
                          f"{', '.join(loaded.signatures) or 'none'})",
                          hint="export it with model.export(path) or tf.saved_model.save(..., signatures=...)",
                          kind=ErrorKind.INPUT)
    specs = list(loaded.signatures[endpoint].structured_input_signature[1].values())
    if len(specs) != 1:
        raise TinymlError(f"SavedModel {p} takes {len(specs)} inputs", hint="tinyml handles one input",
                          kind=ErrorKind.UNSUPPORTED)
    shape = tuple(specs[0].shape[1:])
    if any(d is None for d in shape):
        raise TinymlError(f"SavedModel {p} has an input of unknown shape {tuple(specs[0].shape)}",
                          hint="export it with a fixed sample shape", kind=ErrorKind.UNSUPPORTED)
    inp = keras.Input(shape=shape, name="input")
    out = keras.layers.TFSMLayer(str(p), call_endpoint=endpoint)(inp)
    if isinstance(out, dict):
        if len(out) != 1:
            raise TinymlError(f"SavedModel {p} has {len(out)} outputs", hint="tinyml handles one output",
                              kind=ErrorKind.UNSUPPORTED)
        out = next(iter(out.values()))
    return keras.Model(inp, out, name=p.name)
