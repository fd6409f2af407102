"""The ops2 kernels on what the real converter produces: small Keras models (random weights,
seeded) quantized with tinyml.model.quantize.quantize_keras, aot vs the TFLM interpreter byte for
byte on random inputs. All models convert in ONE child process (TensorFlow stays out of pytest),
cached per session (TINYML_TEST_MODELS=DIR keeps them)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tinyml.codegen.aot.host import run_aot
from tinyml.model.reference import run_reference
from tinyml.model.tflite import parse

pytestmark = [pytest.mark.codegen, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]

# name -> the ops the converted graph must contain (checks that the case tests what it says)
MODELS = {
    "softmax_vec": {"SOFTMAX"},
    "softmax_rows": {"SOFTMAX"},
    "dense_softmax": {"FULLY_CONNECTED", "SOFTMAX"},
    "logistic_wide": {"LOGISTIC"},
    "logistic_narrow": {"LOGISTIC"},
    "tanh": {"TANH"},
    "tanh_wide": {"TANH"},
    "add_residual": {"CONV_2D", "ADD"},
    "add_relu": {"CONV_2D", "ADD"},
    "add_channel_broadcast": {"MEAN", "ADD"},
    "mul_squeeze_excite": {"MEAN", "LOGISTIC", "MUL"},
    "mul_same": {"CONV_2D", "MUL"},
    "rescaling": {"MUL", "ADD"},
    "mean_gap": {"MEAN"},
    "mean_gap_keepdims": {"MEAN"},
    "mean_1d": {"MEAN"},
    "float_io": {"QUANTIZE", "FULLY_CONNECTED", "SOFTMAX", "DEQUANTIZE"},
}

_CHILD = r"""
import os, sys
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras
from keras import layers
from tinyml.model.quantize import quantize_keras
out = sys.argv[1]
rng = np.random.default_rng(0)

def save(name, x, y, scale=3.0, float_io=False):
    model = keras.Model(x, y)
    rep = (rng.standard_normal((64, *x.shape[1:])) * scale).astype(np.float32)
    path = os.path.join(out, name + ".tflite")
    with open(path + ".tmp", "wb") as f:
        f.write(quantize_keras(model, rep, float_io=float_io))
    os.replace(path + ".tmp", path)

def seq(shape, *ls):
    x = keras.Input(shape); y = x
    for l in ls:
        y = l(y)
    return x, y

keras.utils.set_random_seed(1)
save("softmax_vec", *seq((10,), layers.Softmax()), scale=4.0)
save("softmax_rows", *seq((4, 6), layers.Softmax()), scale=0.5)
save("dense_softmax", *seq((16,), layers.Dense(12), layers.Softmax()), scale=10.0)
save("logistic_wide", *seq((64,), layers.Activation("sigmoid")), scale=6.0)
save("logistic_narrow", *seq((64,), layers.Activation("sigmoid")), scale=0.2)
save("tanh", *seq((64,), layers.Activation("tanh")), scale=1.0)
save("tanh_wide", *seq((64,), layers.Activation("tanh")), scale=20.0)
x = keras.Input((5, 5, 8)); save("add_residual", x, layers.Add()([x, layers.Conv2D(8, 1)(x)]))
x = keras.Input((5, 5, 8)); c = layers.Conv2D(8, 3, padding="same")(x)
save("add_relu", x, layers.ReLU()(layers.Add()([x, c])))
x = keras.Input((5, 5, 8)); g = layers.GlobalAveragePooling2D(keepdims=True)(x)
save("add_channel_broadcast", x, layers.Add()([x, g]))
x = keras.Input((5, 5, 8)); g = layers.Activation("sigmoid")(layers.GlobalAveragePooling2D(keepdims=True)(x))
save("mul_squeeze_excite", x, layers.Multiply()([x, g]))
x = keras.Input((5, 5, 8)); save("mul_same", x, layers.Multiply()([x, layers.Conv2D(8, 1)(x)]))
save("rescaling", *seq((12,), layers.Rescaling(0.5, offset=0.25)))
save("mean_gap", *seq((6, 7, 5), layers.GlobalAveragePooling2D()))
save("mean_gap_keepdims", *seq((6, 7, 5), layers.GlobalAveragePooling2D(keepdims=True)))
save("mean_1d", *seq((9, 4), layers.GlobalAveragePooling1D()))
save("float_io", *seq((16,), layers.Dense(8, activation="relu"), layers.Dense(4), layers.Softmax()), float_io=True)
"""


@pytest.fixture(scope="session")
def keras_models(tmp_path_factory) -> Path:
    override = os.environ.get("TINYML_TEST_MODELS")
    d = (Path(override) if override else tmp_path_factory.getbasetemp()) / "ops2_keras"
    d.mkdir(parents=True, exist_ok=True)
    if not all((d / f"{n}.tflite").is_file() for n in MODELS):
        res = subprocess.run([sys.executable, "-c", _CHILD, str(d)], cwd=ROOT, timeout=600, text=True,
                             env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), capture_output=True)
        if res.returncode != 0:
            pytest.fail(f"converting the Keras models failed:\n{res.stderr[-3000:]}")
    return d


def inputs(model, n: int, seed: int) -> np.ndarray:
    t = model.input_tensors()[0]
    rng = np.random.default_rng(seed)
    if t.dtype == "float32":
        return (rng.standard_normal((n, *t.shape[1:])) * 4).astype(np.float32)
    x = rng.integers(-128, 128, size=(n, *t.shape[1:]), dtype=np.int8)
    x[0], x[1] = -128, 127
    return x


@pytest.mark.parametrize("name", list(MODELS))
def test_converted_model_matches_tflm(keras_models: Path, name: str) -> None:
    raw = (keras_models / f"{name}.tflite").read_bytes()
    model = parse(raw)
    assert {op.opcode for op in model.operators} >= MODELS[name]
    x = inputs(model, 48, seed=len(name))
    want = run_reference(raw, x)
    got = run_aot(model, x)
    assert got.dtype == want.dtype and got.shape == want.shape
    bad = np.flatnonzero((got.view(np.uint8) != want.view(np.uint8)).reshape(len(x), -1).any(axis=1))
    assert bad.size == 0, f"samples {bad.tolist()} differ: aot {got[bad[0]]} tflm {want[bad[0]]}"
