"""tinyml.runner: every external command, logged; interrupts and timeouts end all it started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyml.errors import ErrorKind, TinymlError
from tinyml.runner import run

pytestmark = pytest.mark.unit

# a command that starts a grandchild and waits for it, as pio starts scons and the compilers
_TREE = "sleep 300 & echo $! > {pidfile}; wait"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie waiting for its parent counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


def _wait_for(path: Path, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} never appeared")


def _gone(pid: int, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


def test_interrupting_tinyml_ends_the_whole_command_tree(tmp_path: Path) -> None:
    """kill -INT of the tinyml process alone (not its group) used to leave pio's children running."""
    pidfile = tmp_path / "grandchild"
    code = ("import sys\nfrom tinyml.runner import run\n"
            f"run(['sh', '-c', {_TREE.format(pidfile=pidfile)!r}])\n")
    py = subprocess.Popen([sys.executable, "-c", code], stderr=subprocess.PIPE, text=True)
    grandchild = _wait_for(pidfile)
    try:
        py.send_signal(signal.SIGINT)
        py.wait(timeout=15)
        assert "KeyboardInterrupt" in py.stderr.read()  # the library re-raises; the CLI maps it
        assert _gone(grandchild), "the command's child outlived tinyml"
    finally:
        if _alive(grandchild):
            os.kill(grandchild, signal.SIGKILL)


def test_a_timeout_ends_the_whole_command_tree(tmp_path: Path) -> None:
    pidfile = tmp_path / "grandchild"
    with pytest.raises(TinymlError) as err:
        run(["sh", "-c", _TREE.format(pidfile=pidfile)], timeout=1.0, what="a slow step")
    assert err.value.kind is ErrorKind.TOOL and "a slow step did not finish within 1 s" in err.value.message
    assert _gone(_wait_for(pidfile))


def test_failures_name_the_step_and_the_command() -> None:
    with pytest.raises(TinymlError) as err:
        run(["sh", "-c", "echo broken >&2; exit 3"], what="compiling the model")
    assert "compiling the model failed with exit code 3" in err.value.message and "broken" in err.value.message
    assert "sh -c" in (err.value.hint or "")
    assert run(["sh", "-c", "cat"], input=b"abc").stdout == "abc"
    with pytest.raises(TinymlError) as err:
        run(["no-such-tool-tinyml"])
    assert err.value.kind is ErrorKind.TOOL and "was not found" in err.value.message
