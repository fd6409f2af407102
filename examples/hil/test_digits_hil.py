"""Hardware-in-the-loop checks of the digits model on whatever board the options name.

The board runs the held-out images one by one; the suite checks the accuracy, the device's own
inference time and that every output equals the TensorFlow Lite Micro host interpreter's, byte
for byte. Then the board streams its stored samples on its own, checked the same way.
"""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="module")
def run(dut, val):
    """Every image through the board once; the host reference on the same inputs."""
    x, y = val
    results = dut.infer_many(list(x))
    return {"y": y, "device": np.stack([r.output for r in results]), "us": np.array([r.us for r in results]),
            "reference": dut.reference_many(list(x))}


def test_the_board_runs_the_digits_model(dut):
    b = dut.banner
    assert b.init_ok, "tinyml_init failed on the board"
    assert b.input.shape == (1, 8, 8, 1) and b.output.shape == (1, 10)
    assert b.model and len(b.sha256) == 64


def test_accuracy_above_the_bound(run, limits):
    acc = float(np.mean(np.argmax(run["device"], axis=1) == run["y"]))
    assert acc >= limits["accuracy"], f"accuracy {acc:.3f} on {len(run['y'])} images"


def test_outputs_are_bit_exact_with_the_host_reference(run):
    diff = run["device"].astype(np.int32) - run["reference"].astype(np.int32)
    bad = np.flatnonzero(np.any(diff != 0, axis=1))
    assert bad.size == 0, f"{bad.size} of {len(diff)} outputs differ (first: image {bad[:5].tolist()}, " \
                          f"max |diff| {int(np.abs(diff).max())})"


def test_latency_below_the_bound(run, limits):
    worst = int(run["us"].max())
    assert 0 < worst <= limits["latency_us"], f"slowest inference took {worst} us on the device"


def test_streamed_results_match_the_reference(dut):
    stored = dut.stored_samples()
    n = 3 * len(stored)
    got = dut.stream(n)
    assert not got.missing and got.corrupt == 0, (got.missing[:10], got.corrupt)
    want = dut.reference_many(list(stored))
    for s in got.samples:
        assert s.sample == s.index % len(stored)
        assert np.frombuffer(s.output, np.int8).tolist() == want[s.sample].tolist(), s.index
