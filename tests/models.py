"""The example models (examples/sine, examples/digits), trained and quantized once per test session.

API (other test modules may import it: ``from models import ...`` with tests/ on sys.path, or by path):

- ``sine_model_path(tmpdir) -> Path``: int8 .tflite of examples/sine (input (1, 1) int8, output (1, 1) int8)
- ``digits_model_path(tmpdir) -> Path``: int8 .tflite of examples/digits (input (1, 8, 8, 1), output (1, 10))
- ``example_dir(name, tmpdir) -> Path``: the folder holding, for ``name`` in ("sine", "digits"):
  ``model.keras``, ``rep.npz`` (x), ``val.npz`` (held-out x, y), ``model.tflite`` (int8 I/O) and
  ``model_float_io.tflite`` (float32 I/O), and ``report.json`` (``QuantizeReport.to_dict()`` of
  model.tflite with ``val.npz``: float vs int8 accuracy or RMSE measured with the TFLM interpreter).

``tmpdir`` is a directory shared by the session, e.g. ``tmp_path_factory.getbasetemp()``; the
models land in ``<tmpdir>/tinyml-examples/<name>/`` and are built only when missing. Set
``TINYML_TEST_MODELS=DIR`` to keep them between sessions. They are trained exactly as the examples'
``train.py --out DIR`` does by default (same seeds, same epochs), so tests on them check what the READMEs claim.
Training and conversion run in a child process: TensorFlow stays out of the pytest process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("sine", "digits")
FILES = ("model.keras", "rep.npz", "val.npz", "model.tflite", "model_float_io.tflite", "report.json")

_CHILD = r"""
import importlib.util, os, sys
from pathlib import Path
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
root, name, out = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
spec = importlib.util.spec_from_file_location(f"example_{name}", root / "examples" / name / "train.py")
example = importlib.util.module_from_spec(spec)
spec.loader.exec_module(example)
sys.argv = ["train.py", "--out", str(out)]  # through the script's own command line, as a user runs it
example.main()
import json
import keras
from tinyml.model.quantize import quantize_file, quantize_keras
report = quantize_file(out / "model.keras", out / "rep.npz", out / "model.tflite", val_path=out / "val.npz")
(out / "report.json").write_text(json.dumps(report.to_dict(), indent=1))
model = keras.models.load_model(out / "model.keras", compile=False)
rep = np.load(out / "rep.npz")["x"]
(out / "model_float_io.tflite").write_bytes(quantize_keras(model, rep, float_io=True))
"""


def _base(tmpdir: str | os.PathLike[str]) -> Path:
    override = os.environ.get("TINYML_TEST_MODELS")
    return Path(override) if override else Path(tmpdir)


def example_dir(name: str, tmpdir: str | os.PathLike[str]) -> Path:
    """The folder with the trained and quantized example ``name``, built if any file is missing."""
    if name not in NAMES:
        raise ValueError(f"unknown example {name!r}; known: {NAMES}")
    out = _base(tmpdir) / "tinyml-examples" / name
    if not all((out / f).is_file() for f in FILES):
        out.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), name, str(out)], check=True, env=env, cwd=ROOT,
                       timeout=900)
    return out


def sine_model_path(tmpdir: str | os.PathLike[str]) -> Path:
    return example_dir("sine", tmpdir) / "model.tflite"


def digits_model_path(tmpdir: str | os.PathLike[str]) -> Path:
    return example_dir("digits", tmpdir) / "model.tflite"
