"""The virtual Uno's state in a project (DIR/.tinyml/simavr.json), as `tinyml stop`, `flash` and
`monitor` read it, and the checks that run before a build (tools on PATH) - without simavr."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tinyml.boards import get_board
from tinyml.build import qemu
from tinyml.errors import ErrorKind, TinymlError

pytestmark = pytest.mark.unit


def _write_state(project: Path, name: str, pid: int, port: int = 4321) -> None:
    state = project / ".tinyml"
    state.mkdir(parents=True, exist_ok=True)
    url = f"socket://127.0.0.1:{port}"
    (state / name).write_text(json.dumps({"pid": pid, "port": port, "url": url, "machine": "atmega328p",
                                          "argv": ["x"], "log": str(state / "simavr.log")}))
    (state / "port").write_text(url + "\n")


@pytest.fixture
def fake_bridge(tmp_path):
    """A process whose command line looks like the bridge's (a `sleep` under the bridge's name)."""
    link = tmp_path / "bin" / "simavr-uart-bridge-0123456789ab"
    link.parent.mkdir()
    link.symlink_to(shutil.which("sleep") or "/bin/sleep")
    proc = subprocess.Popen([str(link), "60"])
    cmdline = Path(f"/proc/{proc.pid}/cmdline")
    deadline = time.monotonic() + 5
    while b"simavr-uart-bridge" not in cmdline.read_bytes() and time.monotonic() < deadline:
        time.sleep(0.01)  # right after Popen the child's cmdline can still read empty
    yield proc
    if proc.poll() is None:
        proc.kill()
    proc.wait()


def test_state_of_a_running_bridge_is_read_and_stop_ends_it(tmp_path, fake_bridge):
    project = tmp_path / "p"
    _write_state(project, "simavr.json", fake_bridge.pid)
    board = qemu.read_state(project)
    assert board is not None and (board.pid, board.machine) == (fake_bridge.pid, "atmega328p")
    stopped = qemu.stop(project)
    assert stopped is not None and stopped.pid == fake_bridge.pid
    assert fake_bridge.wait(timeout=5) != 0  # ended by SIGTERM
    assert not (project / ".tinyml" / "simavr.json").exists()
    assert not (project / ".tinyml" / "port").exists()


def test_a_pid_that_is_not_the_bridge_is_never_killed(tmp_path):
    """A stale simavr.json whose pid now belongs to another process (here: pytest itself)."""
    project = tmp_path / "p"
    _write_state(project, "simavr.json", os.getpid())
    assert qemu.read_state(project) is None
    assert qemu.stop(project) is None  # and we are still alive
    assert not (project / ".tinyml" / "simavr.json").exists()


def test_a_qemu_state_file_does_not_match_a_bridge_process(tmp_path, fake_bridge):
    """Each state file names its emulator: a bridge pid in qemu.json is not a QEMU board."""
    project = tmp_path / "p"
    _write_state(project, "qemu.json", fake_bridge.pid)
    assert qemu.read_state(project) is None
    time.sleep(0.05)
    assert fake_bridge.poll() is None


def test_missing_tools_are_named_before_any_build(monkeypatch):
    board = get_board("uno-sim")
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(TinymlError) as exc:
        qemu.require_cross_compiler(board)
    assert exc.value.kind == ErrorKind.TOOL and "avr-gcc" in str(exc.value) and "gcc-avr" in (exc.value.hint or "")
    if Path("/usr/include/simavr/sim_avr.h").is_file():
        with pytest.raises(TinymlError) as exc:
            qemu.require_emulator(board)
        assert exc.value.kind == ErrorKind.TOOL and "libsimavr-dev" in (exc.value.hint or "")


def test_flash_without_avr_gcc_is_a_clean_tool_error(run_cli, tmp_path):
    """`tinyml flash` on a uno-sim project with no AVR compiler: exit code of TOOL, one line, no
    traceback, and nothing started."""
    project = tmp_path / "p"
    project.mkdir()
    (project / "platformio.ini").write_text("[env:uno-sim]\nplatform = symlink://${PROJECT_DIR}/platform/x\n")
    (project / "tinyml.json").write_text(json.dumps({"board": "uno-sim"}))
    r = run_cli("flash", str(project), env={"PATH": str(tmp_path / "empty")})
    assert r.returncode == 6 and "Traceback" not in r.stderr  # ErrorKind.TOOL
    assert "'gcc' was not found on PATH" in r.stderr and "libsimavr-dev" in r.stderr
    assert not (project / ".tinyml" / "simavr.json").exists()


def test_uno_sim_board():
    b = get_board("uno-sim")
    assert (b.arch, b.virtual, b.machine, b.pio_platform, b.pio_framework, b.upload) == (
        "avr", True, "atmega328p", "tinyml-simavr", "arduino", "simavr")
    real = get_board("uno")
    assert (b.flash_bytes, b.ram_bytes, b.engines, b.cpu_hz) == (real.flash_bytes, real.ram_bytes, real.engines,
                                                                 real.cpu_hz)


@pytest.mark.skipif(shutil.which("avr-gcc") is None, reason="needs avr-gcc")
def test_a_missing_arduino_core_is_named_before_any_build(monkeypatch, tmp_path):
    monkeypatch.setenv("TINYML_ARDUINO_AVR", str(tmp_path / "no-core"))
    with pytest.raises(TinymlError) as exc:
        qemu.require_cross_compiler(get_board("uno-sim"))
    assert exc.value.kind == ErrorKind.TOOL and "no-core" in str(exc.value)
    assert "arduino-core-avr" in (exc.value.hint or "")
    # the real `uno` builds with the registry's atmelavr platform: no system core needed
    assert qemu.require_cross_compiler(get_board("uno")).endswith("avr-gcc")
