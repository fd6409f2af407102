"""`tinyml inspect` on models that TensorFlow made: int8, float I/O, float, hybrid, and a uint8 rewrite.

The Keras models are converted once per session in a child process (TensorFlow stays out of the
pytest process); the child also records each layer's MACs from Keras' own shapes, so the
analysis is checked against an independent count.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

from tinyml.errors import EXIT_CODES, ErrorKind
from tinyml.model import analysis, arena, checks
from tinyml.model.tflite import load, parse, schema

pytestmark = [pytest.mark.unit, pytest.mark.slow]

_CHILD = r"""
import json, os, sys
from pathlib import Path
import numpy as np
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
import keras, tensorflow as tf
from tinyml.model.quantize import quantize_keras
out = Path(sys.argv[1])
keras.utils.set_random_seed(3)
inp = keras.Input((12, 12, 2))
x = keras.layers.Conv2D(6, 3, strides=2, padding="same", activation="relu", name="conv")(inp)
x = keras.layers.DepthwiseConv2D(3, depth_multiplier=2, padding="valid", activation="relu6", name="dw")(x)
x = keras.layers.AveragePooling2D(2, name="pool")(x)
x = keras.layers.Flatten()(x)
x = keras.layers.Dense(5, name="dense")(x)
y = keras.layers.Softmax()(x)
m = keras.Model(inp, y)
rep = np.random.default_rng(0).random((40, 12, 12, 2), dtype=np.float32)
(out / "cnn_int8.tflite").write_bytes(quantize_keras(m, rep))
(out / "cnn_float_io.tflite").write_bytes(quantize_keras(m, rep, float_io=True))
(out / "cnn_float.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(m).convert())
def macs(layer):
    o = layer.output.shape
    k = layer.kernel.shape
    if layer.name == "conv":
        return o[1] * o[2] * o[3] * k[0] * k[1] * k[2]
    if layer.name == "dw":
        return o[1] * o[2] * o[3] * k[0] * k[1]
    return k[0] * k[1]
expected = {name: int(macs(m.get_layer(name))) for name in ("conv", "dw", "dense")}
# dynamic range quantization only touches weights of 1024+ elements: a 64x64 dense has them
d = keras.Sequential([keras.Input((64,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(8)])
c = tf.lite.TFLiteConverter.from_keras_model(d)
c.optimizations = [tf.lite.Optimize.DEFAULT]
(out / "dense_hybrid.tflite").write_bytes(c.convert())
(out / "expected.json").write_text(json.dumps(expected))
"""

NAMES = ("cnn_int8", "cnn_float_io", "cnn_float", "dense_hybrid")


@pytest.fixture(scope="session")
def tf_models(tmp_path_factory) -> dict[str, Path]:
    base = os.environ.get("TINYML_TEST_MODELS")
    out = (Path(base) if base else tmp_path_factory.getbasetemp()) / "tinyml-inspect-models"
    if not (out / "expected.json").is_file():
        out.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
        subprocess.run([sys.executable, "-c", _CHILD, str(out)], check=True, env=env, timeout=900,
                       capture_output=True)
    paths = {n: out / f"{n}.tflite" for n in NAMES}
    paths["uint8"] = out / "cnn_uint8.tflite"
    paths["uint8"].write_bytes(_as_uint8(paths["cnn_int8"].read_bytes()))
    paths["expected"] = out / "expected.json"
    return paths


def _as_uint8(raw: bytes) -> bytes:
    """The same graph in the TF1 uint8 scheme: int8 tensors retyped, zero points and data shifted by 128."""
    s = schema()
    m = s.ModelT.InitFromPackedBuf(raw, 0)
    for t in m.subgraphs[0].tensors:
        if t.type == s.TensorType.INT8:
            t.type = s.TensorType.UINT8
            if t.quantization is not None and t.quantization.zeroPoint is not None:
                t.quantization.zeroPoint = np.asarray(t.quantization.zeroPoint) + 128
            buf = m.buffers[t.buffer]
            if buf.data is not None and len(buf.data):
                buf.data = (np.asarray(buf.data, dtype=np.uint8) ^ 0x80).astype(np.uint8)
    b = flatbuffers.Builder(len(raw) + 1024)
    b.Finish(m.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


def test_macs_match_keras(tf_models):
    expected = json.loads(tf_models["expected"].read_text())
    for name in ("cnn_int8", "cnn_float_io", "cnn_float"):
        r = analysis.analyze(load(tf_models[name]))
        by_op = {o.opcode: o.macs for o in r.ops if o.macs}
        assert by_op == {"CONV_2D": expected["conv"], "DEPTHWISE_CONV_2D": expected["dw"],
                         "FULLY_CONNECTED": expected["dense"]}, name
        assert r.totals.macs == sum(expected.values())


def test_schemes(tf_models):
    kinds = {n: checks.classify(load(tf_models[n])).kind
             for n in ("cnn_int8", "cnn_float_io", "cnn_float", "dense_hybrid", "uint8")}
    assert kinds == {"cnn_int8": checks.INT8, "cnn_float_io": checks.INT8_FLOAT_IO, "cnn_float": checks.FLOAT,
                     "dense_hybrid": checks.HYBRID, "uint8": checks.UINT8}


def test_int8_weights_are_the_constants(tf_models):
    m = load(tf_models["cnn_int8"])
    r = analysis.analyze(m)
    assert r.totals.weight_bytes == sum(t.data.nbytes for t in m.tensors if t.data is not None)
    assert r.totals.weight_bytes < r.model_bytes
    assert {"AddConv2D", "AddDepthwiseConv2D", "AddAveragePool2D", "AddFullyConnected", "AddSoftmax"} \
        <= set(r.resolver)


def test_arena_acceptance_on_converted_models(tf_models):
    for name in ("cnn_int8", "cnn_float_io"):
        raw = tf_models[name].read_bytes()
        n = arena.measure_arena(raw)
        assert arena.runs_with_arena(raw, n), name
        assert not arena.runs_with_arena(raw, n - 16), name


def test_cli_board_accepts_int8_and_rejects_the_rest(run_cli, tf_models):
    ok = run_cli("inspect", str(tf_models["cnn_int8"]), "--board", "nano33ble", "--engine", "tflm", "--json")
    assert ok.returncode == 0, ok.stderr
    fit = json.loads(ok.stdout)["fit"]
    assert fit["fits"] and fit["arena_bytes"] == json.loads(ok.stdout)["arena_bytes"]
    for name, word in (("cnn_float", "float model"), ("dense_hybrid", "hybrid"), ("uint8", "deprecated")):
        r = run_cli("inspect", str(tf_models[name]), "--board", "nano33ble")
        assert r.returncode == EXIT_CODES[ErrorKind.UNSUPPORTED], (name, r.stderr)
        assert word in r.stderr and "Traceback" not in r.stderr, (name, r.stderr)


def test_uint8_rewrite_still_parses_like_the_original(tf_models):
    a, b = parse(tf_models["cnn_int8"].read_bytes()), parse(tf_models["uint8"].read_bytes())
    assert [o.opcode for o in a.operators] == [o.opcode for o in b.operators]
    assert [t.shape for t in a.tensors] == [t.shape for t in b.tensors]


def test_reader_on_mutated_converter_output(tf_models):
    """Converter output has more than the hand-built models (metadata, signatures): fuzz it too."""
    from tinyml.errors import TinymlError

    original = tf_models["cnn_int8"].read_bytes()
    rng = np.random.default_rng(11)
    outcomes = {"ok": 0, "error": 0}
    for i in range(400):
        buf = bytearray(original)
        if i % 4 == 0:
            buf = buf[:int(rng.integers(0, len(buf)))]
        else:
            for pos in rng.integers(8, len(buf), size=int(rng.integers(1, 6))):
                buf[pos] = int(rng.integers(0, 256))
        try:
            model = parse(bytes(buf))
            analysis.analyze(model)
            outcomes["ok"] += 1
        except TinymlError:
            outcomes["error"] += 1
    assert outcomes["error"] > 0 and sum(outcomes.values()) == 400
