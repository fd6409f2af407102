"""The protocol on the QEMU virtual boards, through the real CLI where a user would:
`tinyml validate` on digits (bit-exact vs TFLM, accuracy = host int8 accuracy), the MLPerf Tiny
command sequence as the runner parses it, bad input, and `tinyml monitor` across an emulator
restart."""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml.model.reference import quantize_input, run_reference
from tinyml.model.tflite import load
from tinyml.serial import codec
from tinyml.serial.client import DeviceClient

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARDS = ["qemu-mps2-an386", "qemu-lm3s6965evb"]


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict[str, str]:
    return {"TINYML_CACHE": str(tmp_path_factory.mktemp("tinyml-cache"))}


def _cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=timeout)


@pytest.fixture(scope="module", params=BOARDS)
def digits_board(request, zoo, cache_env, tmp_path_factory):
    out = tmp_path_factory.mktemp(f"digits-{request.param}") / "proj"
    r = _cli(cache_env, "generate", str(zoo["digits"]), "--board", request.param, "-o", str(out))
    assert r.returncode == 0, r.stderr
    r = _cli(cache_env, "flash", str(out), "--json")
    assert r.returncode == 0, r.stderr
    yield {"board": request.param, "project": out, "url": json.loads(r.stdout)["port"]}
    _cli(cache_env, "stop", str(out))


def test_validate_digits_is_bit_exact_and_as_accurate_as_the_host(digits_board, zoo, cache_env, tmp_path):
    proj = digits_board["project"]
    js, html = tmp_path / "v.json", tmp_path / "report.html"
    r = _cli(cache_env, "validate", str(proj), "--data", str(zoo["digits_val"]), "--json", str(js), "--report",
             str(html), "--require-exact")
    assert r.returncode == 0, r.stderr
    v = json.loads(js.read_text())
    m = v["metrics"]
    assert m["samples"] == len(np.load(zoo["digits_val"])["y"])
    assert m["bit_exact"] == m["samples"] and m["max_abs_diff_q"] == 0 and m["rmse"] == 0
    # the host int8 accuracy, computed here independently of validate
    model = load(zoo["digits"])
    tin = model.input_tensors()[0]
    with np.load(zoo["digits_val"]) as d:
        x, y = d["x"], d["y"]
    host = run_reference(model.raw, quantize_input(x.reshape((len(x), *tin.shape[1:])), tin)).reshape(len(x), -1)
    host_acc = float(np.mean(np.argmax(host, axis=1) == y))
    assert m["accuracy_device"] == pytest.approx(host_acc) and m["accuracy_reference"] == pytest.approx(host_acc)
    assert v["device"]["board"] == digits_board["board"] and v["link"]["corrupt"] == 0
    assert m["latency_us"]["min"] > 0 and m["cycles"]["min"] > 0
    assert "bit-exact vs TFLM" in r.stdout and "100.00 %" in r.stdout
    page = html.read_text()
    assert page.count("<svg") == 4 and f"{m['samples']} of {m['samples']} outputs bit-exact" in page


LAP = re.compile(r"^m-lap-us-([0-9]+)$")
RESULTS = re.compile(r"^m-results-\[([^]]+)\]$")
MODEL = re.compile(r"^m-(model|profile)-\[([^]]+)]$")


def test_mlperf_tiny_sequence_as_the_runner_parses_it(digits_board, zoo):
    model = load(zoo["digits"])
    tin, tout = model.input_tensors()[0], model.output_tensors()[0]
    with np.load(zoo["digits_val"]) as d:
        xq = quantize_input(d["x"][3].reshape(tin.shape[1:]), tin)
    want_q = run_reference(model.raw, xq[None]).reshape(-1)
    want = (want_q.astype(np.float64) - tout.zero_point) * tout.scale
    raw = xq.tobytes()
    with DeviceClient.open(digits_board["url"], timeout=20) as c:
        c.hello()
        assert c.mlperf("name") == ["m-name-dut-[tinyml]", "m-ready"]
        prof = c.mlperf("profile")
        assert MODEL.match(prof[0]).group(1) == "profile" and MODEL.match(prof[1]).groups() == ("model", "digits")
        assert c.mlperf(f"db load {len(raw)}") == [f"m-[Expecting {len(raw)} bytes]", "m-ready"]
        replies = [c.mlperf(f"db {raw[i:i + 31].hex()}") for i in range(0, len(raw), 31)]  # the runner's chunks
        assert all(r == ["m-ready"] for r in replies[:-1]) and replies[-1] == ["m-load-done", "m-ready"]
        lines = c.mlperf("infer 20 2", timeout=60)
        assert lines[:3] == ["m-warmup-start-2", "m-warmup-done", "m-infer-start-20"] and lines[-1] == "m-ready"
        laps = [int(m.group(1)) for m in map(LAP.match, lines) if m]
        res = [m.group(1) for m in map(RESULTS.match, lines) if m]
        assert len(laps) == 2 and len(res) == 1
        values = res[0].split(",")
        assert all(re.fullmatch(r"-?\d+\.\d{3}", s) for s in values)
        np.testing.assert_allclose([float(s) for s in values], want, atol=0.0006)
        # laps are MICROseconds: per inference they match the device time of a framed inference
        per_infer = (laps[1] - laps[0]) / 20
        framed = c.infer(raw)
        assert framed.output == want_q.astype(np.int8).tobytes()
        assert 0.8 * framed.us <= per_infer <= 1.25 * framed.us + 50, (per_infer, framed.us)
        assert c.mlperf("results")[0] == f"m-results-[{res[0]}]"


def test_bad_input_gets_errors_and_the_board_keeps_working(digits_board, zoo):
    model = load(zoo["digits"])
    with DeviceClient.open(digits_board["url"], timeout=20) as c:
        h = c.hello()
        nbytes = h.input.nbytes
        # malformed / overlong MLPerf commands
        assert c.mlperf("x" * 200) == ["e-[command too long (max 80 characters)]", "m-ready"]
        assert c.mlperf("infer -1") == ["e-[Inference iterations must be >0]", "m-ready"]
        # garbage bytes on the line, a frame with a bad CRC, an input of the wrong length
        junk = bytes(b for b in range(256) if b not in b"\r\n%@")  # no terminator or sync inside
        c.write(junk + b"\n")
        bad = bytearray(codec.encode_frame("I", 0x4242, bytes(nbytes)))
        bad[10] ^= 0x02  # "A" -> "C": still base64, so only the CRC can tell
        c.write(bytes(bad))
        seq = c.send("I", bytes(nbytes - 1))
        acks = [e.data for e in c.drain(1.0) if e.kind == "ack"]
        assert [a.name for a in acks] == ["garbage", "crc", "length"], acks
        assert acks[0].message.endswith(f": {len(junk)}")
        assert acks[1].req == 0x4242 and acks[2].req == seq
        assert c.stats.corrupt == 0 and c.stats.lost == 0
        # all 256 byte values, terminators and sync chars included: answered, then business as usual
        c.write(bytes(range(256)) * 4 + b"\n")
        assert any(e.kind == "ack" and e.data.name == "garbage" for e in c.drain(1.0))
        # and it still computes the right thing
        with np.load(zoo["digits_val"]) as d:
            xq = quantize_input(d["x"][:4].reshape((4, *h.input.shape[1:])), model.input_tensors()[0])
        res = c.infer_many([s.tobytes() for s in xq])
        want = run_reference(model.raw, xq).reshape(4, -1)
        assert np.array_equal(np.stack([np.frombuffer(r.output, np.int8) for r in res]), want)


def test_validate_refuses_a_device_running_another_model(digits_board, zoo, cache_env, tmp_path):
    r = _cli(cache_env, "validate", "--model", str(zoo["sine"]), "--port", digits_board["url"], "--data",
             str(zoo["sine_val"]))
    assert r.returncode == 9, r.stderr
    assert "the device runs model digits" in r.stderr and "Traceback" not in r.stderr


# ----------------------------------------------------------------------------- monitor across a restart

def _records(path: Path) -> list[dict]:
    out = []
    if path.exists():
        for line in path.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def _wait_for(pred, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_monitor_on_the_sine_demo_survives_an_emulator_restart(zoo, cache_env, tmp_path):
    proj = tmp_path / "sine"
    r = _cli(cache_env, "generate", str(zoo["sine"]), "--board", "qemu-mps2-an386", "-o", str(proj))
    assert r.returncode == 0, r.stderr
    r = _cli(cache_env, "flash", str(proj))
    assert r.returncode == 0, r.stderr
    log = tmp_path / "sine.jsonl"
    mon = subprocess.Popen([sys.executable, "-m", "tinyml", "monitor", str(proj), "--jsonl", str(log), "--rate", "20"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           env={**os.environ, **cache_env, "COLUMNS": "200"})
    try:
        _wait_for(lambda: sum("index" in x for x in _records(log)) >= 10, 60)
        # kill the emulator mid-stream and start it again (tinyml flash reuses the build)
        assert _cli(cache_env, "stop", str(proj)).returncode == 0
        time.sleep(1.0)
        r = _cli(cache_env, "flash", str(proj))
        assert r.returncode == 0, r.stderr
        _wait_for(lambda: any(x.get("event") == "reset" for x in _records(log)), 60)
        n_before = sum("index" in x for x in _records(log))
        _wait_for(lambda: sum("index" in x for x in _records(log)) >= n_before + 10, 60)
    finally:
        mon.send_signal(signal.SIGINT)
        out, err = mon.communicate(timeout=60)
        _cli(cache_env, "stop", str(proj))
    assert mon.returncode == 0, err
    recs = _records(log)
    events = [x["event"] for x in recs if "event" in x]
    assert {"disconnected", "reconnected", "reset"} <= set(events) and events[-1] == "summary"
    results = [x for x in recs if "index" in x]
    starts = [i for i, x in enumerate(results) if x["index"] == 0]
    assert len(starts) == 2  # the stream started again after the reset
    for a, b in zip(starts, starts[1:] + [len(results)], strict=True):
        assert [x["index"] for x in results[a:b]] == list(range(b - a))  # nothing lost in between
    assert all(len(x["values"]) == 1 and -1.5 < x["values"][0] < 1.5 for x in results)  # sine outputs
    s = recs[-1]["summary"]
    assert s["resets"] == 1 and s["corrupt"] == 0 and s["results"] == len(results)
    assert "reset" in err and "Ctrl-C" in out
