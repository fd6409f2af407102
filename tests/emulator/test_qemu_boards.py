"""The whole chain on both QEMU boards: generate (aot) -> PlatformIO build -> flash (QEMU via
PlatformIO's upload) -> the tinyml runtime answers over the TCP serial port, and what the emulated
CPU computes equals the TFLM host interpreter, for host-driven inferences and for streaming."""

from __future__ import annotations

import json
import os
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml.model.reference import quantize_input, run_reference
from tinyml.model.tflite import load

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

BOARDS = ["qemu-mps2-an386", "qemu-lm3s6965evb"]
MODELS = ["sine", "digits"]
N_INFER = {"sine": 40, "digits": 24}


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict[str, str]:
    return {"TINYML_CACHE": str(tmp_path_factory.mktemp("tinyml-cache"))}


@pytest.fixture(scope="module", params=[(b, m) for b in BOARDS for m in MODELS], ids=lambda p: f"{p[0]}-{p[1]}")
def board_up(request, zoo, cache_env, tmp_path_factory):
    """A generated project flashed onto a running virtual board; stopped afterwards."""
    import subprocess
    import sys

    board, model = request.param
    out = tmp_path_factory.mktemp(f"{board}-{model}") / "proj"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True,
                              env={**os.environ, **cache_env}, timeout=600)

    r = cli("generate", str(zoo[model]), "--board", board, "-o", str(out), "--samples", str(zoo[f"{model}_val"]))
    assert r.returncode == 0, r.stderr
    r = cli("flash", str(out), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    yield {"board": board, "model": model, "project": out, "url": info["port"], "pid": info["pid"], "cli": cli}
    r = cli("stop", str(out))
    assert r.returncode == 0, r.stderr


def _client(url: str):
    from tinyml.serial.client import DeviceClient

    return DeviceClient.open(url, timeout=20.0)


def test_inferences_equal_the_tflm_interpreter(board_up, zoo):
    model = load(zoo[board_up["model"]])
    tin = model.input_tensors()[0]
    x = np.load(zoo[f"{board_up['model']}_val"])["x"][: N_INFER[board_up["model"]]]
    xq = quantize_input(x.reshape((len(x), *tin.shape[1:])), tin)
    with _client(board_up["url"]) as dev:
        hello = dev.hello()
        assert (hello.sha256, hello.engine, hello.board) == (model.sha256, "aot", board_up["board"])
        results = dev.infer_many([s.tobytes() for s in xq])
    got = np.stack([np.frombuffer(r.output, dtype=np.int8) for r in results])
    want = run_reference(model.raw, xq).reshape(len(xq), -1)
    assert got.shape == want.shape
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {got.size} values differ"
    assert all(r.us > 0 and r.cycles > 0 for r in results)  # SysTick timing on the emulated CPU


def test_streamed_samples_equal_the_tflm_interpreter(board_up, zoo):
    """The device runs its stored samples (samples.h, from --samples) on its own."""
    model = load(zoo[board_up["model"]])
    tin = model.input_tensors()[0]
    manifest = json.loads((board_up["project"] / "tinyml.json").read_text())
    n = manifest["samples"]["count"]
    x = np.load(zoo[f"{board_up['model']}_val"])["x"][:n]
    want = run_reference(model.raw, quantize_input(x.reshape((n, *tin.shape[1:])), tin)).reshape(n, -1)
    count = min(n, 12)
    got: dict[int, np.ndarray] = {}
    with _client(board_up["url"]) as dev:
        dev.hello()
        dev.stream_start(period_us=0, count=count)
        deadline = time.monotonic() + 60
        while len(got) < count and time.monotonic() < deadline:
            for ev in dev.poll(0.2):
                if ev.kind == "sample":
                    got[ev.data.index] = (ev.data.sample, np.frombuffer(ev.data.output, dtype=np.int8))
                assert ev.kind not in ("corrupt", "lost", "reset"), ev
    assert len(got) == count
    for _, (sample, out) in sorted(got.items()):
        assert np.array_equal(out, want[sample]), f"sample {sample}"


def test_port_file_and_stop(board_up):
    project = board_up["project"]
    assert (project / ".tinyml" / "port").read_text().strip() == board_up["url"]
    assert Path(f"/proc/{board_up['pid']}").exists()


def test_generate_predicted_the_firmware_flash(board_up, check_flash_prediction):
    """The fit check's flash (board reserve + the aot model compiled for the arch + samples)
    covers the firmware PlatformIO built, within 15 %."""
    from tinyml.boards import get_board

    check_flash_prediction(board_up["project"], get_board(board_up["board"]).arch)


def test_stop_ends_qemu_and_frees_the_port(zoo, cache_env, tmp_path, run_cli):
    out = tmp_path / "p"
    env = cache_env
    assert run_cli("generate", str(zoo["sine"]), "--board", "qemu-mps2-an386", "-o", str(out), env=env).returncode == 0
    r = run_cli("flash", str(out), "--json", env=env)
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    port = int(info["port"].rsplit(":", 1)[1])
    r = run_cli("stop", str(out), env=env)
    assert r.returncode == 0 and f"pid {info['pid']}" in r.stdout
    for _ in range(50):
        if not Path(f"/proc/{info['pid']}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{info['pid']}").exists()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert not (out / ".tinyml" / "port").exists()
