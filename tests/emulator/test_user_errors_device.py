"""A first user's mishaps with a (virtual) device: the emulator dies mid-run, Ctrl-C mid-run.

Each must end with one clear line (or the summary), the right exit code, no traceback and no
half-written report. A TF-free int8 model keeps the module fast (one build, ~15 s in all).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_inspect_models import fc_model  # noqa: E402

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

N_IN = 16


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    return {**os.environ, "TINYML_CACHE": str(tmp_path_factory.mktemp("tinyml-cache")), "COLUMNS": "200"}


def _cli(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True, env=env,
                          timeout=timeout)


@pytest.fixture(scope="module")
def board(env, tmp_path_factory):
    """A built project on qemu-mps2-an386 and a big data set; each test flashes (starts) it itself."""
    d = tmp_path_factory.mktemp("qa-device")
    (d / "fc.tflite").write_bytes(fc_model(N_IN, 4))
    rng = np.random.default_rng(0)
    np.savez(d / "big.npz", x=rng.integers(-128, 128, (30000, N_IN), dtype=np.int8))
    proj = d / "proj"
    r = _cli(env, "generate", str(d / "fc.tflite"), "--board", "qemu-mps2-an386", "-o", str(proj))
    assert r.returncode == 0, r.stderr
    yield {"dir": d, "project": proj}
    _cli(env, "stop", str(proj))


def _start(env, project: Path) -> int:
    _cli(env, "stop", str(project))
    r = _cli(env, "flash", str(project))
    assert r.returncode == 0, r.stderr
    return int(json.loads((project / ".tinyml" / "qemu.json").read_text())["pid"])


def _popen(env, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "tinyml", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def test_ctrl_c_during_validate_ends_cleanly_without_a_report(env, board):
    _start(env, board["project"])
    report = board["dir"] / "ctrlc.html"
    p = _popen(env, "validate", str(board["project"]), "--data", str(board["dir"] / "big.npz"),
               "--report", str(report))
    time.sleep(4.0)
    assert p.poll() is None, p.communicate()  # 30,000 samples: still running
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err, err
    assert not report.exists()


def test_emulator_dies_mid_validate_is_a_device_error(env, board):
    pid = _start(env, board["project"])
    report = board["dir"] / "died.html"
    p = _popen(env, "validate", str(board["project"]), "--data", str(board["dir"] / "big.npz"),
               "--report", str(report))
    time.sleep(4.0)
    assert p.poll() is None, p.communicate()
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    out, err = p.communicate(timeout=60)
    assert time.monotonic() - t0 < 15  # noticed promptly, not after the whole data set's timeouts
    assert p.returncode == 8, (out, err)  # ErrorKind.DEVICE
    assert err.startswith("error: ") and "lost the connection" in err and "hint: " in err, err
    assert "Traceback" not in err and not report.exists()


def test_emulator_gone_for_good_monitor_keeps_trying_and_ctrl_c_gives_the_summary(env, board):
    pid = _start(env, board["project"])
    p = _popen(env, "monitor", str(board["project"]), "--json")
    time.sleep(3.0)
    os.kill(pid, signal.SIGKILL)
    time.sleep(3.0)
    assert p.poll() is None, p.communicate()  # waits for the device to come back (a re-plug)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, (out, err)
    assert "lost the connection" in err and "Traceback" not in err, err
    summary = json.loads(out)
    assert summary["interrupted"] is True and summary["results"] > 0


def test_monitor_summary_names_the_model_the_device_runs(env, board):
    # off a terminal there is no live view: the summary is all a script sees of the device
    _start(env, board["project"])
    r = _cli(env, "monitor", str(board["project"]), "--count", "3", timeout=60)
    assert r.returncode == 0, r.stderr
    assert "model fc (" in r.stdout and "board qemu-mps2-an386" in r.stdout, r.stdout  # fc.tflite -> "fc"
