"""The pytest plugin (tinyml/pytest_plugin.py) driven the way a rig uses it: `pytest` in a
subprocess with --tinyml-* options against QEMU boards.

- the examples/hil digits suite, exactly as the README runs it (the only place the project's
  own test run executes it: testpaths = tests);
- --tinyml-no-flash against running boards: the dut API, one test per board with several
  --tinyml-port, `duts` for all at once;
- a board running another model than the project: a clear failure, no traceback;
- a failing test carries its serial log (report section and JUnit XML property);
- pytest-xdist: one board per worker by worker id; a virtual board without a port gives each
  worker its own emulator; more workers than boards is refused up front.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]
needs_xdist = pytest.mark.skipif(importlib.util.find_spec("xdist") is None, reason="needs pytest-xdist")

BOARDS = ["qemu-mps2-an386", "qemu-lm3s6965evb"]


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    cache = os.environ.get("TINYML_CACHE") or str(tmp_path_factory.mktemp("tinyml-cache"))
    return {**os.environ, "TINYML_CACHE": cache, "PYTHONDONTWRITEBYTECODE": "1"}


def _tinyml(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True, env=env,
                          timeout=600)


def _pytest(env: dict[str, str], cwd: Path, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *args],
                          capture_output=True, text=True, env=env, cwd=cwd, timeout=timeout)


@pytest.fixture(scope="module")
def boards(zoo, env, tmp_path_factory):
    """digits running on both QEMU boards, plus a sine project (not flashed)."""
    base = tmp_path_factory.mktemp("hil-boards")
    started: list[Path] = []

    def up(board: str) -> tuple[str, Path, str]:
        proj = base / f"digits-{board}"
        r = _tinyml(env, "generate", str(zoo["digits"]), "--board", board, "-o", str(proj))
        assert r.returncode == 0, r.stderr
        started.append(proj)
        r = _tinyml(env, "flash", str(proj), "--json")
        assert r.returncode == 0, r.stderr
        return board, proj, json.loads(r.stdout)["port"]

    try:
        # one after the other: two PlatformIO runs sharing a fresh core dir can race on its installs
        running = {b: (p, u) for b, p, u in map(up, BOARDS)}
        sine = base / "sine-mps2"
        r = _tinyml(env, "generate", str(zoo["sine"]), "--board", "qemu-mps2-an386", "-o", str(sine))
        assert r.returncode == 0, r.stderr
        yield {"running": running, "sine_project": sine}
    finally:
        for proj in started:
            _tinyml(env, "stop", str(proj))


def _qemu_cmdlines() -> list[str]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes()
            except OSError:
                continue
            if b"qemu-system-arm" in cmd:
                out.append(cmd.replace(b"\0", b" ").decode(errors="replace"))
    return out


def test_example_suite_passes_on_a_virtual_board(zoo, env, tmp_path):
    basetemp = tmp_path / "bt"
    r = _pytest(env, ROOT, "examples/hil", "--tinyml-board", "qemu-mps2-an386", "--tinyml-project", str(zoo["digits"]),
                "--hil-val", str(zoo["digits_val"]), "--basetemp", str(basetemp))
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-2000:]
    assert re.search(r"\b5 passed\b", r.stdout), r.stdout[-2000:]
    # the emulator the plugin started is gone
    assert not [c for c in _qemu_cmdlines() if str(basetemp) in c]


def test_example_suite_skips_without_a_board(env):
    r = _pytest(env, ROOT, "examples/hil")
    assert r.returncode == 0 and "5 skipped" in r.stdout and "no tinyml board" in r.stdout, r.stdout[-2000:]


DUT_API = """
    import numpy as np
    import pytest

    @pytest.mark.tinyml_boards(2)
    def test_needs_two_boards(duts):
        assert len(duts) >= 2

    def test_api(dut):
        b = dut.banner
        assert b.model == "digits" and b.board == "{board}"
        x = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8, 1)
        r = dut.infer(x)
        assert r.output.dtype == np.int8 and r.output.shape == (10,) and r.us > 0
        assert r.output.tolist() == dut.reference(x).tolist()
        run = dut.stream(20)
        assert run.received == 20 and not run.missing
        dut.write("name%")
        assert dut.expect(r"m-name-dut-\\[(\\w+)\\]", timeout=5).group(1) == "tinyml"
        dut.expect("m-ready", timeout=5)
"""


def test_no_flash_dut_api_on_a_running_board(boards, env, tmp_path):
    proj, url = boards["running"]["qemu-mps2-an386"]
    (tmp_path / "test_api.py").write_text(textwrap.dedent(DUT_API.format(board="qemu-mps2-an386")))
    r = _pytest(env, tmp_path, "--tinyml-no-flash", "--tinyml-port", url, "--tinyml-project", str(proj))
    assert r.returncode == 0 and "1 passed, 1 skipped" in r.stdout, r.stdout[-3000:]
    assert "needs 2 tinyml boards, 1 given" in r.stdout


SEVERAL = """
    import json, os

    def test_each(dut):
        with open(os.environ["HIL_OUT"], "a") as f:
            f.write(json.dumps({{"test": "each", "board": dut.banner.board, "url": dut.url,
                                 "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}}) + "\\n")
        assert dut.infer(bytes(64)).output.shape == (10,)

    def test_all(duts):
        with open(os.environ["HIL_OUT"], "a") as f:
            f.write(json.dumps({{"test": "all", "boards": sorted(d.banner.board for d in duts),
                                 "worker": os.environ.get("PYTEST_XDIST_WORKER", "main")}}) + "\\n")
"""


def _records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_several_ports_run_each_test_on_each_board(boards, env, tmp_path):
    (tmp_path / "test_several.py").write_text(textwrap.dedent(SEVERAL.format()))
    out = tmp_path / "out.jsonl"
    ports = [a for b in BOARDS for a in ("--tinyml-port", boards["running"][b][1])]
    r = _pytest({**env, "HIL_OUT": str(out)}, tmp_path, "--tinyml-no-flash", *ports, "-v")
    assert r.returncode == 0, r.stdout[-3000:]
    recs = _records(out)
    assert sorted(x["board"] for x in recs if x["test"] == "each") == sorted(BOARDS)
    assert [x["boards"] for x in recs if x["test"] == "all"] == [sorted(BOARDS)]
    # the test ids name the port, so a report says which board failed
    port_ids = [u.split("://", 1)[1] for _, u in boards["running"].values()]
    assert all(f"test_each[{pid}]" in r.stdout for pid in port_ids), r.stdout[-2000:]


@needs_xdist
def test_xdist_gives_each_worker_its_own_board(boards, env, tmp_path):
    (tmp_path / "test_several.py").write_text(textwrap.dedent(SEVERAL.format()))
    for k in range(6):  # more tests than workers, so both workers get some
        (tmp_path / f"test_more_{k}.py").write_text(textwrap.dedent(SEVERAL.format()))
    out = tmp_path / "out.jsonl"
    ports = [a for b in BOARDS for a in ("--tinyml-port", boards["running"][b][1])]
    r = _pytest({**env, "HIL_OUT": str(out)}, tmp_path, "-n", "2", "--tinyml-no-flash", *ports)
    assert r.returncode == 0, r.stdout[-3000:]
    recs = [x for x in _records(out) if x["test"] == "each"]
    by_worker: dict[str, set[str]] = {}
    for x in recs:
        by_worker.setdefault(x["worker"], set()).add(x["board"])
    assert len(recs) == 7  # each test once (spread over the boards), not once per board
    assert by_worker == {"gw0": {BOARDS[0]}, "gw1": {BOARDS[1]}}  # worker N took --tinyml-port N
    # `duts` under xdist: the worker's own board only
    assert all(len(x["boards"]) == 1 for x in _records(out) if x["test"] == "all")


@needs_xdist
def test_xdist_with_more_workers_than_boards_is_refused(boards, env, tmp_path):
    (tmp_path / "test_several.py").write_text(textwrap.dedent(SEVERAL.format()))
    ports = [a for b in BOARDS for a in ("--tinyml-port", boards["running"][b][1])]
    r = _pytest(env, tmp_path, "-n", "3", "--tinyml-no-flash", *ports)
    assert r.returncode == 4, r.stdout + r.stderr
    assert "each xdist worker needs a board of its own" in r.stderr and "Pass -n 2" in r.stderr
    assert "Traceback" not in r.stderr


@needs_xdist
def test_xdist_one_virtual_board_gives_each_worker_an_emulator(zoo, env, tmp_path):
    (tmp_path / "test_several.py").write_text(textwrap.dedent(SEVERAL.format()))
    (tmp_path / "test_more.py").write_text(textwrap.dedent(SEVERAL.format()))
    out = tmp_path / "out.jsonl"
    r = _pytest({**env, "HIL_OUT": str(out)}, tmp_path, "-n", "2", "--tinyml-board", "qemu-lm3s6965evb",
                "--tinyml-project", str(zoo["digits"]), "--basetemp", str(tmp_path / "bt"))
    assert r.returncode == 0, r.stdout[-3000:]
    recs = [x for x in _records(out) if x["test"] == "each"]
    assert {x["worker"] for x in recs} == {"gw0", "gw1"}
    urls = {x["worker"]: x["url"] for x in recs}
    assert urls["gw0"] != urls["gw1"]  # two emulators, one per worker
    assert not [c for c in _qemu_cmdlines() if str(tmp_path / "bt") in c]


def test_board_running_another_model_fails_clearly(boards, env, tmp_path):
    _, url = boards["running"]["qemu-mps2-an386"]
    (tmp_path / "test_api.py").write_text("def test_x(dut):\n    pass\n")
    r = _pytest(env, tmp_path, "--tinyml-no-flash", "--tinyml-port", url, "--tinyml-project",
                str(boards["sine_project"]))
    assert r.returncode == 1, r.stdout[-2000:]
    assert "runs model 'digits'" in r.stdout and "expects sha256" in r.stdout
    assert "hint: flash the project" in r.stdout
    assert "Traceback" not in r.stdout


FAILING = """
    def test_fails(dut):
        dut.infer(bytes(64))
        assert False, "deliberate"

    def test_passes(dut):
        dut.infer(bytes(64))

    def test_fails_quietly(dut):
        assert False, "checks a result fetched earlier: no traffic of its own"
"""


def test_failing_test_carries_its_serial_log(boards, env, tmp_path):
    proj, url = boards["running"]["qemu-mps2-an386"]
    (tmp_path / "test_fail.py").write_text(textwrap.dedent(FAILING))
    xml = tmp_path / "junit.xml"
    r = _pytest(env, tmp_path, "--tinyml-no-flash", "--tinyml-port", url, "--tinyml-project", str(proj),
                f"--junitxml={xml}")
    assert r.returncode == 1 and "2 failed, 1 passed" in r.stdout, r.stdout[-2000:]
    section = r.stdout.split("tinyml serial log", 1)[1]
    assert "lines before the test" in r.stdout.split("test_fails_quietly", 1)[1]  # the quiet one gets the tail
    assert re.search(r"> @J[0-9a-f]{4}\[64 bytes: ", section) and re.search(r"< @R[0-9a-f]{4}", section)
    cases = {c.get("name"): c for c in ET.parse(xml).getroot().iter("testcase")}
    props = [p.get("name") for p in cases["test_fails"].iter("property")]
    assert any(str(n).startswith("tinyml_serial_log:") for n in props)
    assert not list(cases["test_passes"].iter("property"))  # passing tests stay lean


def test_bad_options_are_usage_errors(env, tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x(dut):\n    pass\n")
    r = _pytest(env, tmp_path, "--tinyml-board", "a", "--tinyml-board", "b", "--tinyml-port", "socket://x:1",
                "--tinyml-port", "socket://x:2", "--tinyml-port", "socket://x:3")
    assert r.returncode == 4 and "one board id for all ports" in r.stderr
    r = _pytest(env, tmp_path, "--tinyml-board", "qemu-mps2-an386", "--tinyml-project", str(tmp_path / "none.tflite"))
    assert r.returncode == 1 and "does not exist" in r.stdout and "Traceback" not in r.stdout
    r = _pytest(env, tmp_path, "--tinyml-board", "no-such-board", "--tinyml-project", str(tmp_path / "test_x.py"))
    assert r.returncode == 1 and "neither a project directory nor a .tflite" in r.stdout


# ----------------------------------------------------------------------------- a remote rig over RFC 2217

class _Writer:
    """PortManager writes its telnet replies with .write()."""

    def __init__(self, sock):
        self.sock = sock

    def write(self, data: bytes) -> None:
        self.sock.sendall(data)


def _rfc2217_server(board_url: str):
    """Serves the board's UART over RFC 2217 with pyserial's own PortManager, as a rig host
    running ser2net would. (esptool's esp_rfc2217_server needs a real tty: on a pseudo terminal
    its modem-line ioctls fail with ENOTTY.) Returns (rfc2217 url, stop)."""
    import socket
    import threading

    import serial
    from serial import rfc2217

    dev = serial.serial_for_url(board_url, timeout=0.01)
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            conn.settimeout(0.01)
            pm = rfc2217.PortManager(dev, _Writer(conn))
            while not stop.is_set():
                data = dev.read(4096)  # what arrives within the 10 ms timeout
                try:
                    if data:
                        conn.sendall(b"".join(pm.escape(data)))
                    try:
                        got = conn.recv(4096)
                    except TimeoutError:
                        continue
                    if not got:
                        break
                    dev.write(b"".join(pm.filter(got)))
                except OSError:
                    break
            conn.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()

    def close() -> None:
        stop.set()
        t.join(3)
        srv.close()
        dev.close()

    return f"rfc2217://127.0.0.1:{srv.getsockname()[1]}", close


def test_board_served_over_rfc2217(boards, env, tmp_path):
    proj, url = boards["running"]["qemu-lm3s6965evb"]
    remote, close = _rfc2217_server(url)
    try:
        (tmp_path / "test_api.py").write_text(textwrap.dedent(DUT_API.format(board="qemu-lm3s6965evb")))
        r = _pytest(env, tmp_path, "--tinyml-no-flash", "--tinyml-port", remote, "--tinyml-project", str(proj))
        assert r.returncode == 0 and "1 passed, 1 skipped" in r.stdout, r.stdout[-3000:]
    finally:
        close()
