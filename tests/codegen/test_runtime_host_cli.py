"""`tinyml monitor` and the validate pipeline against the host-built runtime (fake model fixture):
logging, reset detection and reconnect, Ctrl-C, metrics. Fast: no TensorFlow, no emulator."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml.serial.client import DeviceClient
from tinyml.serial.validate import validate_on_device

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "fake_model"))
import hostdev  # noqa: E402

pytestmark = pytest.mark.codegen


@pytest.fixture(scope="module")
def host_exe(tmp_path_factory) -> Path:
    return hostdev.build(tmp_path_factory.mktemp("hostdev-cli"))


def _records(path: Path) -> list[dict]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):  # a line being written
            out.append(json.loads(line))
    return out


def _wait_for(pred, timeout: float = 10.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.05)
    raise AssertionError("timed out")


def _monitor(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tinyml", "monitor", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=dict(os.environ, COLUMNS="200"))


def test_monitor_logs_every_result_and_survives_a_reset(host_exe, tmp_path):
    log, csv = tmp_path / "log.jsonl", tmp_path / "log.csv"
    with hostdev.HostDevice(host_exe) as dev:
        mon = _monitor("--port", dev.url, "--jsonl", str(log), "--csv", str(csv), "--duration", "8", "--rate", "50")
        _wait_for(lambda: sum("index" in r for r in _records(log)) >= 20)
        dev.restart(downtime=0.5)  # the device goes away and comes back on the same port, rebooted
        _wait_for(lambda: any(r.get("event") == "reset" for r in _records(log)), timeout=15)
        before = sum("index" in r for r in _records(log))
        _wait_for(lambda: sum("index" in r for r in _records(log)) >= before + 20)
        out, err = mon.communicate(timeout=30)
    assert mon.returncode == 0, err
    recs = _records(log)
    events = [r["event"] for r in recs if "event" in r]
    assert events[0] == "hello" and events[-1] == "summary"
    assert "disconnected" in events and "reconnected" in events and "reset" in events
    assert "reset" in err and "reconnect" in err  # said so on the console
    results = [r for r in recs if "index" in r]
    # the stream restarts at index 0 after the reset; within each run no index is missing
    restarts = [i for i, r in enumerate(results) if r["index"] == 0]
    assert restarts[0] == 0 and len(restarts) == 2
    for a, b in zip(restarts, restarts[1:] + [len(results)], strict=True):
        assert [r["index"] for r in results[a:b]] == list(range(b - a))
    for r in results[:6]:
        stored = [np.arange(16), 255 - np.arange(16), [100] * 8 + [156] * 8][r["sample"]]
        want = hostdev.fake_reference(np.asarray(stored, np.uint8).astype(np.int8))
        assert r["output"] == want.tolist()
        assert r["values"] == pytest.approx(((want.astype(int) + 10) * 0.0625).tolist())
    summary = recs[-1]["summary"]
    assert summary["results"] == len(results) and summary["resets"] == 1 and summary["reconnects"] == 1
    assert summary["corrupt"] == 0
    assert len(csv.read_text().splitlines()) == len(results) + 1
    assert "results" in out and str(len(results)) in out


def test_monitor_count_and_ctrl_c(host_exe, tmp_path):
    with hostdev.HostDevice(host_exe) as dev:
        r = subprocess.run([sys.executable, "-m", "tinyml", "monitor", "--port", dev.url, "--count", "15",
                            "--rate", "0", "--json"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        s = json.loads(r.stdout)
        assert s["results"] == 15 and s["lost"] == 0 and not s["interrupted"]
        log = tmp_path / "l.jsonl"
        mon = _monitor("--port", dev.url, "--jsonl", str(log), "--rate", "100")
        _wait_for(lambda: sum("index" in x for x in _records(log)) >= 10)
        mon.send_signal(signal.SIGINT)
        out, err = mon.communicate(timeout=30)
        assert mon.returncode == 0, err
        assert "Ctrl-C" in out and "Traceback" not in err
        assert _records(log)[-1]["event"] == "summary"
        # the device was told to stop: it is quiet and still answers
        with DeviceClient.open(dev.url, timeout=3) as c:
            assert c.hello().model == "fake"
            assert not [e for e in c.drain(0.3) if e.kind == "sample"]


def test_validate_on_device_against_the_fake_reference(host_exe):
    rng = np.random.default_rng(11)
    x = rng.integers(-128, 128, size=(120, 4, 4, 1), dtype=np.int8)
    ref = np.stack([hostdev.fake_reference(s) for s in x])
    labels = np.argmax(ref, axis=1)
    labels[:12] = (labels[:12] + 1) % 4  # 10 % wrong labels
    with hostdev.HostDevice(host_exe) as dev, DeviceClient.open(dev.url, timeout=3) as c:
        v = validate_on_device(c, x, ref, labels=labels, window=3)
        m = v.metrics
        assert m.bit_exact == 120 and m.max_abs_diff_q == 0 and m.rmse == 0 and m.cosine == pytest.approx(1.0)
        assert m.accuracy_device == m.accuracy_reference == pytest.approx(0.9)
        assert np.trace(np.array(m.confusion)) == 108
        # a reference that disagrees by one step on one element is caught and measured
        bad = ref.copy()
        bad[5, 2] = np.int8(bad[5, 2] - 1) if bad[5, 2] > -128 else np.int8(1)
        v2 = validate_on_device(c, x, bad, labels=labels)
        assert v2.metrics.bit_exact == 119 and v2.metrics.max_abs_diff_q == 1
        assert v2.metrics.mae == pytest.approx(0.0625 / (120 * 4))
