"""The examples do what their READMEs say: trained by train.py, quantized by `tinyml quantize`, measured
with the TFLM host interpreter (digits: int8 accuracy within 1 point of float; sine: RMSE within 10%)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from models import example_dir

from tinyml.model import reference, tflite

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.getbasetemp()


def _quantize(run_cli, d: Path, tmp_path: Path) -> dict:
    r = run_cli("quantize", str(d / "model.keras"), "--data", str(d / "rep.npz"), "--val", str(d / "val.npz"),
                "-o", "model.tflite", "--json")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert tflite.load(tmp_path / "model.tflite").sha256 == report["sha256"]
    return report


def test_digits_int8_accuracy_within_one_point_of_float(run_cli, tmp_path, base):
    c = _quantize(run_cli, example_dir("digits", base), tmp_path)["comparison"]
    assert c["task"] == "classification" and c["samples"] == 359
    assert c["float_value"] > 0.9  # the model learned something
    assert abs(c["int8_value"] - c["float_value"]) <= 0.01, c


def test_sine_int8_rmse_within_ten_percent_of_float(base):
    # Measured by quantize_file when tests/models.py built the model (the CLI path is tested on digits).
    report = json.loads((example_dir("sine", base) / "report.json").read_text())
    c = report["comparison"]
    assert c["task"] == "regression" and c["samples"] == 200
    assert c["float_value"] < 0.2  # noise is 0.1: the fit is close
    assert c["int8_value"] <= 1.10 * c["float_value"], c
    assert report["input_tensor"]["dtype"] == "int8" and report["input_tensor"]["shape"] == [1, 1]


def test_quantize_input_equals_the_models_own_quantize_op(base):
    """At exact halves of the input scale, our rounding must match TFLM's QUANTIZE (half away from zero)."""
    d = example_dir("sine", base)
    int8, float_io = tflite.load(d / "model.tflite"), tflite.load(d / "model_float_io.tflite")
    t = int8.input_tensors()[0]
    s = np.float32(t.scale)
    k = np.arange(-120, 120)
    x = ((k + 0.5) * s).astype(np.float32)
    x = x[(x / s) == (k + 0.5)][:, None]  # keep the values whose quotient is exactly a half
    assert len(x) > 100
    ours = reference.dequantize_output(reference.run_reference(int8.raw, reference.quantize_input(x, t)),
                                       int8.output_tensors()[0])
    theirs = reference.run_reference(float_io.raw, x)
    assert np.array_equal(ours, theirs)
