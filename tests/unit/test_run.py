"""`tinyml run` and the reference interpreter: outputs, input quantization, errors, a crashing child."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest
from test_inspect_models import GraphBuilder, fc_model

from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError
from tinyml.model import reference, tflite

pytestmark = pytest.mark.unit
N_IN, UNITS = 16, 8


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("run-models")
    paths = {"int8": d / "fc.tflite", "float_io": d / "fc_float_io.tflite", "custom": d / "custom.tflite"}
    paths["int8"].write_bytes(fc_model(N_IN, UNITS))
    paths["float_io"].write_bytes(fc_model(N_IN, UNITS, float_io=True))
    g = GraphBuilder()
    x, y = g.tensor([1, 4], "float32"), g.tensor([1, 4], "float32")
    g.op("CUSTOM:MyOp", [x], [y])
    paths["custom"].write_bytes(g.build([x], [y]))
    paths["batch2"] = d / "batch2.tflite"
    paths["batch2"].write_bytes(fc_model(N_IN, UNITS, batch=2))
    return paths


def _in_process(model_bytes: bytes, x: np.ndarray) -> np.ndarray:
    """The TFLM runtime called directly, independent of the child-process plumbing."""
    from tflite_micro import runtime

    interp = runtime.Interpreter.from_bytes(model_bytes, arena_size=64 * 1024)
    out = []
    for sample in x:
        interp.set_input(sample[None, ...], 0)
        interp.invoke()
        out.append(np.array(interp.get_output(0))[0])
    return np.stack(out)


def _clean(r, kind: ErrorKind, *words: str) -> None:
    assert r.returncode == EXIT_CODES[kind], (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    for w in words:
        assert w in r.stderr, (w, r.stderr)


def test_int8_input_matches_the_runtime(run_cli, tmp_path, models):
    x = np.random.default_rng(3).integers(-128, 128, (6, N_IN)).astype(np.int8)
    np.save(tmp_path / "x.npy", x)
    r = run_cli("run", str(models["int8"]), "--input", "x.npy", "--json", "--output", "y.npy")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    expect = _in_process(models["int8"].read_bytes(), x)
    assert out["engine"] == "tflm" and out["samples"] == 6 and out["output_dtype"] == "int8"
    assert np.array_equal(np.array(out["outputs"]), expect)
    saved = np.load(tmp_path / "y.npy")
    assert saved.dtype == np.int8 and np.array_equal(saved, expect)
    t = tflite.load(models["int8"]).output_tensors()[0]
    assert np.allclose(out["dequantized"], (expect.astype(np.float64) - t.zero_point) * t.scale)
    assert "quantized" not in r.stderr  # int8 data goes in as is


def test_float_input_is_quantized_like_a_quantize_op(run_cli, tmp_path, models):
    """Float data for the int8 model == the float-I/O model (whose QUANTIZE op runs inside TFLM)."""
    x = np.random.default_rng(4).uniform(-7, 7, (20, N_IN)).astype(np.float32)
    np.savez(tmp_path / "x.npz", x=x)
    r = run_cli("run", str(models["int8"]), "--input", "x.npz", "--json")
    assert r.returncode == 0, r.stderr
    assert "note: float input quantized to int8" in r.stderr and "scale 0.05" in r.stderr
    deq = np.array(json.loads(r.stdout)["dequantized"], dtype=np.float32)
    assert np.array_equal(deq, _in_process(models["float_io"].read_bytes(), x))


def test_table_output(run_cli, tmp_path, models):
    np.save(tmp_path / "x.npy", np.zeros((25, N_IN), np.int8))
    r = run_cli("run", str(models["int8"]), "--input", "x.npy")
    assert r.returncode == 0, r.stderr
    assert "dequantized" in r.stdout and "argmax" in r.stdout and "5 more" in r.stdout


def test_quantize_input_rounds_half_away_from_zero():
    t = tflite.Tensor(0, "in", (1, 4), "int8", tflite.Quantization(np.array([0.5], np.float32),
                                                                       np.array([3]), 0), None)
    # x / scale = 0.5, 1.5, -0.5, -2.5: numpy's round-half-to-even would give 0, 2, -0, -2.
    q = reference.quantize_input(np.array([0.25, 0.75, -0.25, -1.25]), t)
    assert q.dtype == np.int8 and list(q) == [1 + 3, 2 + 3, -1 + 3, -3 + 3]
    assert list(reference.quantize_input(np.array([1000.0, -1000.0]), t)) == [127, -128]  # clamped
    assert np.array_equal(reference.dequantize_output(np.array([3, 5, -128], np.int8), t),
                          np.array([0.0, 1.0, -65.5], np.float32))


@pytest.mark.parametrize("args,kind,words", [
    (["run", "missing.tflite", "--input", "x.npy"], ErrorKind.INPUT, ["does not exist"]),
    (["run", "notmodel.tflite", "--input", "x.npy"], ErrorKind.INPUT, ["not a valid .tflite"]),
    (["run", "{int8}", "--input", "nope.npy"], ErrorKind.INPUT, ["input file", "does not exist"]),
    (["run", "{int8}", "--input", "wrong.npy"], ErrorKind.INPUT, ["(5,)", "(1, 16)", "(N, 16)"]),
    (["run", "{int8}", "--input", "big.npy"], ErrorKind.INPUT, ["outside the int8 range"]),
    (["run", "{int8}", "--input", "x.npy", "--engine", "tvm"], ErrorKind.USAGE, ["unknown engine 'tvm'"]),
    (["run", "{int8}", "--input", "x.npy", "-o", "nodir/y.npy"], ErrorKind.OUTPUT, ["does not exist"]),
    (["run", "{int8}", "--input", "x.npy", "-o", "y.txt"], ErrorKind.USAGE, [".npy"]),
    (["run", "{custom}", "--input", "f.npy"], ErrorKind.UNSUPPORTED, ["TFLite Micro has no kernel for"]),
    (["run", "{batch2}", "--input", "x.npy"], ErrorKind.UNSUPPORTED, ["(2, 16)", "batch of 1"]),
])
def test_errors(run_cli, tmp_path, models, args, kind, words):
    (tmp_path / "notmodel.tflite").write_text("hello")
    np.save(tmp_path / "x.npy", np.zeros((2, N_IN), np.int8))
    np.save(tmp_path / "wrong.npy", np.zeros((2, 5), np.int8))
    np.save(tmp_path / "big.npy", np.full((2, N_IN), 300, np.int32))
    np.save(tmp_path / "f.npy", np.zeros((2, 4), np.float32))
    r = run_cli(*[a.format(**{k: str(v) for k, v in models.items()}) for a in args])
    _clean(r, kind, *words)
    assert not (tmp_path / "y.txt").exists()


def test_aot_engine_missing_is_unsupported(monkeypatch, models):
    monkeypatch.setitem(sys.modules, "tinyml.codegen.aot.host", None)
    model = tflite.load(models["int8"])
    with pytest.raises(TinymlError) as info:
        reference.run_engine(model, np.zeros((1, N_IN), np.int8), "aot")
    assert info.value.kind is ErrorKind.UNSUPPORTED and "aot engine is not available" in info.value.message


def test_aot_engine_matches_tflm(run_cli, tmp_path, models):
    pytest.importorskip("tinyml.codegen.aot.host")
    np.save(tmp_path / "x.npy", np.random.default_rng(5).integers(-128, 128, (8, N_IN)).astype(np.int8))
    runs = [run_cli("run", str(models["int8"]), "--input", "x.npy", "--json", "--engine", e) for e in ("tflm", "aot")]
    for r in runs:
        assert r.returncode == 0, r.stderr
    tflm, aot = (json.loads(r.stdout) for r in runs)
    assert aot["engine"] == "aot" and aot["outputs"] == tflm["outputs"]


def test_a_crashing_interpreter_is_an_error_not_a_crash(monkeypatch, tmp_path, models):
    (tmp_path / "tinyml_abort_child.py").write_text("import os\nos.abort()\n")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setattr(reference, "CHILD_MODULE", "tinyml_abort_child")
    with pytest.raises(TinymlError) as info:
        reference.run_reference(models["int8"].read_bytes(), np.zeros((1, N_IN), np.int8))
    assert info.value.kind is ErrorKind.TOOL and "killed by signal 6" in info.value.message


def test_run_reference_refuses_float_for_int8(models):
    with pytest.raises(TinymlError) as info:
        reference.run_reference(models["int8"].read_bytes(), np.zeros((1, N_IN), np.float32))
    assert info.value.kind is ErrorKind.INPUT and "quantize it first" in (info.value.hint or "")
