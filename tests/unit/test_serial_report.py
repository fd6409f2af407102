"""Validation metrics (stedgeai-style) and the HTML report, rendered in headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from tinyml.serial.metrics import compute
from tinyml.serial.report import render
from tinyml.serial.validate import Validation

pytestmark = pytest.mark.unit


def _deq(q, scale=0.5, zp=-3):
    return ((q.astype(np.int32) - zp) * np.float32(scale)).astype(np.float32)


def test_metrics_on_known_numbers():
    ref = np.array([[10, 0, -5], [3, 7, 1]], dtype=np.int8)
    dev = ref.copy()
    dev[1, 2] = 3  # one element two steps off
    m = compute(dev, ref, _deq(dev), _deq(ref), labels=np.array([0, 0]), latency_us=np.array([5, 9]),
                cycles=np.array([0, 0]))
    assert m.bit_exact == 1 and m.bit_exact_elements == 5 and m.max_abs_diff_q == 2
    assert m.mae == pytest.approx(1.0 / 6) and m.rmse == pytest.approx(np.sqrt(1.0 / 6))
    rf = _deq(ref).astype(np.float64)
    assert m.l2r == pytest.approx(1.0 / np.linalg.norm(rf))
    assert m.task == "classification" and m.accuracy_reference == 0.5 and m.accuracy_device == 0.5
    assert m.confusion == [[1, 1, 0], [0, 0, 0], [0, 0, 0]]
    assert m.latency_us is not None and m.latency_us.median == 7 and m.cycles is None


def test_one_hot_labels_and_regression_targets():
    ref = np.array([[1, 5], [6, 2], [0, 9]], dtype=np.int8)
    onehot = np.array([[0, 1], [1, 0], [1, 0]])
    m = compute(ref, ref, _deq(ref), _deq(ref), labels=onehot)
    assert m.accuracy_device == pytest.approx(2 / 3) and m.bit_exact == 3 and m.cosine == pytest.approx(1.0)
    r1 = np.array([[1], [2], [3]], dtype=np.int8)
    m2 = compute(r1, r1, _deq(r1), _deq(r1), labels=np.array([0.9, 2.1, 3.0]))
    assert m2.task == "regression" and m2.accuracy_device is None and m2.confusion is None
    assert any("RMSE against the targets" in n for n in m2.notes)


def test_labels_out_of_range_are_noted_not_crashed():
    ref = np.array([[1, 5], [6, 2]], dtype=np.int8)
    m = compute(ref, ref, _deq(ref), _deq(ref), labels=np.array([0, 7]))
    assert m.accuracy_device is None and any("accuracy not computed" in n for n in m.notes)


def _validation(n: int = 200, k: int = 10, seed: int = 0) -> Validation:
    rng = np.random.default_rng(seed)
    ref = rng.integers(-128, 128, size=(n, k), dtype=np.int8)
    dev = ref.copy()
    dev[::17, 3] = np.clip(dev[::17, 3].astype(int) + 1, -128, 127).astype(np.int8)
    labels = np.argmax(ref, axis=1)
    labels[::9] = 0
    lat = rng.integers(900, 1100, size=n)
    m = compute(dev, ref, _deq(dev), _deq(ref), labels=labels, latency_us=lat, cycles=lat * 25)
    device = {"model": "digits<&>", "board": "qemu-mps2-an386", "engine": "aot", "sha256": "ab" * 32,
              "input": {"dtype": "int8", "shape": [1, 8, 8, 1], "scale": 0.0039, "zero_point": -128, "bytes": 64},
              "output": {"dtype": "int8", "shape": [1, 10], "scale": 0.5, "zero_point": -3, "bytes": 10},
              "arena_bytes": 360}
    return Validation(device=device, port="socket://127.0.0.1:1", metrics=m, latency_us=lat.tolist(),
                      cycles=(lat * 25).tolist(), abs_err=np.abs(_deq(dev) - _deq(ref)).ravel().tolist(),
                      diff_q=(dev.astype(int) - ref.astype(int)).ravel().tolist(), seconds=2.0, samples_per_s=n / 2,
                      link={"corrupt": 0, "lost": 0, "resets": 0, "retries": 0},
                      memory={"flash_bytes": 4194304, "flash_used_bytes": 9712, "ram_bytes": 65536,
                              "ram_used_bytes": 8552, "arena_bytes": 360}, data="val.npz")


def test_report_is_self_contained_and_deterministic():
    v = _validation()
    page = render(v)
    assert page == render(v)
    assert not re.search(r"<script|src=|href=|@import|url\(", page)  # nothing fetched, nothing run
    assert "digits&lt;&amp;&gt;" in page and "digits<&>" not in page  # escaped
    for fid in ("confusion", "error-histogram", "latency", "memory", "metrics"):
        assert f'id="{fid}"' in page
    assert page.count("<svg") == 4
    assert f"{v.metrics.bit_exact} of 200 outputs bit-exact" in page


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium not installed (scripts/setup installs it)")
def test_report_renders_in_headless_chromium(tmp_path):
    page = tmp_path / "report.html"
    page.write_text(render(_validation()))
    base = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run([*base, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120).stdout
    # the browser parsed the SVG plots into elements: 200 latency points, 100 confusion cells, bars
    assert dom.count("<svg") == 4
    assert dom.count('class="cell"') == 100
    assert 'class="series"' in dom and dom.count('class="used"') == 3
    assert re.search(r'<rect class="bar"[^>]*height="[1-9]', dom)
    shot = tmp_path / "shot.png"
    subprocess.run([*base, f"--screenshot={shot}", "--window-size=1000,2200", page.as_uri()], capture_output=True,
                   timeout=120)
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20000  # a blank page compresses to a few KB
