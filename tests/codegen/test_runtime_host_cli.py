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


# ----------------------------------------------------------------------------- `tinyml validate`, end to end

def _fc_model() -> bytes:
    """A TF-free int8 classifier: FULLY_CONNECTED 16 -> 5 (tinyml.codegen.aot.synth)."""
    from tinyml.codegen.aot.synth import GraphBuilder

    rng = np.random.default_rng(4)
    g = GraphBuilder()
    x = g.tensor((1, 16), scale=0.02, zero_point=-5, name="input")
    w_scales = [0.004, 0.006, 0.005, 0.003, 0.007]
    wt = g.tensor((5, 16), data=rng.integers(-127, 128, size=(5, 16)).astype(np.int8), scale=w_scales,
                  zero_point=[0] * 5, axis=0)
    b = g.tensor((5,), "int32", data=rng.integers(-3000, 3000, 5).astype(np.int32),
                 scale=[0.02 * s for s in w_scales], zero_point=[0] * 5)
    y = g.tensor((1, 5), scale=0.05, zero_point=2, name="scores")
    g.op("FULLY_CONNECTED", [x, wt, b], [y], fused_activation_function="NONE")
    return g.build(inputs=[x], outputs=[y])


@pytest.fixture(scope="module")
def aot_device(tmp_path_factory):
    """The FC model through the aot engine, with the runtime and the host port: a real device's
    firmware, built for the host."""
    import shutil

    from tinyml.codegen.aot import host as aot_host
    from tinyml.codegen.aot.generator import generate
    from tinyml.model import tflite

    d = tmp_path_factory.mktemp("aotdev")
    raw = _fc_model()
    (d / "model.tflite").write_bytes(raw)
    files = generate(tflite.parse(raw))
    for name, text in files.items():
        (d / name).write_text(text)
    (d / "samples.h").write_text("#define TINYML_NUM_SAMPLES 1\n#include <stdint.h>\n"
                                 "static const uint8_t tinyml_samples[1][16] = {{0}};\n")
    exe = d / "device"
    cc = shutil.which("gcc")
    assert cc
    subprocess.run([cc, "-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", f"-I{d}",
                    f"-I{hostdev.FW / 'include'}", *[str(d / n) for n in files if n.endswith(".c")],
                    *map(str, aot_host.kernel_sources()), str(hostdev.FW / "src" / "runtime.c"),
                    str(hostdev.FW / "src" / "protocol.c"), str(hostdev.FW / "ports" / "host" / "port.c"),
                    str(hostdev.FW / "ports" / "host" / "main.c"), "-DTINYML_BOARD=\"host\"", "-o", str(exe)],
                   check=True, capture_output=True, text=True)
    rng = np.random.default_rng(5)
    x = rng.uniform(-2.5, 2.5, size=(150, 16)).astype(np.float32)
    y = rng.integers(0, 5, 150)
    np.savez(d / "val.npz", x=x, y=y)
    with hostdev.HostDevice(exe) as dev:
        yield {"dir": d, "url": dev.url, "model": d / "model.tflite", "data": d / "val.npz"}


def test_cli_validate_end_to_end_on_the_host_device(aot_device, run_cli, tmp_path):
    d = aot_device
    rep = tmp_path / "r.html"
    r = run_cli("validate", "--model", str(d["model"]), "--port", d["url"], "--data", str(d["data"]),
                "--json", "-", "--report", str(rep), "--require-exact", timeout=300)
    assert r.returncode == 0, r.stderr
    v = json.loads(r.stdout)
    m = v["metrics"]
    assert m["samples"] == 150 and m["bit_exact"] == 150 and m["task"] == "classification"
    assert m["accuracy_device"] == m["accuracy_reference"]
    assert len(v["latency_us"]) == 150 and v["device"]["board"] == "host"
    page = rep.read_text()
    assert page.count("<svg") == 3 and "no memory figures" in page  # no project: no board to compare with


def test_cli_validate_with_a_project_dir_and_the_table(aot_device, run_cli, tmp_path):
    proj = tmp_path / "proj"
    (proj / ".tinyml").mkdir(parents=True)
    (proj / "model.tflite").write_bytes(aot_device["model"].read_bytes())
    (proj / ".tinyml" / "port").write_text(aot_device["url"] + "\n")
    r = run_cli("validate", str(proj), "--data", str(aot_device["data"]), "--limit", "20", timeout=300)
    assert r.returncode == 0, r.stderr
    assert "20/20 (100.00 %)" in r.stdout and "accuracy (device)" in r.stdout


@pytest.mark.parametrize("case", ["no-project", "missing-dir", "no-model", "missing-data", "bad-port",
                                  "other-model", "wrong-shape"])
def test_cli_validate_errors(aot_device, run_cli, tmp_path, case):
    d = aot_device
    args = {"no-project": ["--data", str(d["data"]), "--port", d["url"]],
            "missing-dir": [str(tmp_path / "nope"), "--data", str(d["data"])],
            "no-model": [str(tmp_path), "--data", str(d["data"])],
            "missing-data": ["--model", str(d["model"]), "--data", str(tmp_path / "nope.npz")],
            "bad-port": ["--model", str(d["model"]), "--data", str(d["data"]), "--port", "/dev/tinyml-nope"],
            "other-model": ["--model", str(tmp_path / "other.tflite"), "--data", str(d["data"]), "--port", d["url"]],
            "wrong-shape": ["--model", str(d["model"]), "--data", str(tmp_path / "bad.npz"), "--port", d["url"]],
            }[case]
    (tmp_path / "other.tflite").write_bytes(_fc_model().replace(b"tinyml synth", b"tinyml other"))
    np.savez(tmp_path / "bad.npz", x=np.zeros((3, 7), np.float32))
    want = {"no-project": 2, "missing-dir": 3, "no-model": 3, "missing-data": 3, "bad-port": 8,
            "other-model": 9, "wrong-shape": 3}[case]
    r = run_cli("validate", *args, timeout=300)
    assert r.returncode == want, (r.returncode, r.stderr)
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
