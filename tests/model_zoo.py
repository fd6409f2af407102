"""Small int8 models the project/emulator tests share, converted once per session.

The conversion runs in a child process (TensorFlow stays out of the pytest process; the notes
saw TFLM abort in a process that had just converted). Models: ``sine`` and ``digits`` (the
examples' architectures, briefly trained with fixed seeds), and ``big`` (a conv whose activations
need ~150 KB of RAM: too big for qemu-lm3s6965evb's 64 KB). Set TINYML_TEST_MODELS=DIR to keep
them between sessions.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("sine", "digits", "big")

_CHILD = r"""
import importlib.util, os, sys
from pathlib import Path
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from tinyml.model.quantize import quantize_keras
root, out = Path(sys.argv[1]), Path(sys.argv[2])

def example(name):
    spec = importlib.util.spec_from_file_location(f"ex_{name}", root / "examples" / name / "train.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

keras.utils.set_random_seed(1)
sine = example("sine")
d = sine.make_data(1)
m = sine.build_model()
m.compile(optimizer="adam", loss="mse")
m.fit(d["x_train"], d["y_train"], epochs=40, batch_size=32, verbose=0)
(out / "sine.tflite").write_bytes(quantize_keras(m, d["x_train"]))
np.savez(out / "sine_val.npz", x=d["x_val"], y=d["y_val"])

keras.utils.set_random_seed(1)
digits = example("digits")
d = digits.make_data(1)
m = digits.build_model()
m.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
m.fit(d["x_train"], d["y_train"], epochs=8, batch_size=32, verbose=0)
(out / "digits.tflite").write_bytes(quantize_keras(m, d["x_train"][:200]))
np.savez(out / "digits_val.npz", x=d["x_val"], y=d["y_val"])

keras.utils.set_random_seed(1)
big = keras.Sequential([keras.Input((96, 96, 1)), keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
                        keras.layers.Conv2D(8, 3, strides=2, padding="same"), keras.layers.Flatten(),
                        keras.layers.Dense(4)])
rng = np.random.default_rng(1)
(out / "big.tflite").write_bytes(quantize_keras(big, rng.uniform(0, 1, (8, 96, 96, 1)).astype(np.float32)))
"""


def build(dest: Path) -> dict[str, Path]:
    """``{name: path}`` of the .tflite files (and ``<name>_val`` .npz), building them if missing."""
    dest.mkdir(parents=True, exist_ok=True)
    paths = {n: dest / f"{n}.tflite" for n in NAMES}
    paths.update({f"{n}_val": dest / f"{n}_val.npz" for n in ("sine", "digits")})
    if not all(p.is_file() for p in paths.values()):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run([sys.executable, "-c", _CHILD, str(ROOT), str(dest)], check=True, env=env, cwd=ROOT,
                       timeout=600)
    return paths


def session_dir(tmp_factory_dir: Path) -> Path:
    override = os.environ.get("TINYML_TEST_MODELS")
    return Path(override) if override else tmp_factory_dir
