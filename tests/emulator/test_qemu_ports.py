"""The QEMU board ports on their own (no tinyml runtime): a small echo firmware
(tests/emulator/fixtures/echo) built with plain `pio run -t upload` on the tinyml-qemu platform.

Checks what the runtime relies on: no byte lost by the interrupt-driven receive path, a byte sent
before the guest enabled its UART still arrives, and the SysTick clock advances while the core
sleeps in WFI (at the board's real rate), so a timed stream wakes up."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tinyml.build import pio, qemu
from tinyml.resources import resource_dir

pytestmark = [pytest.mark.emulator,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

FIXTURE = Path(__file__).parent / "fixtures" / "echo"
PORTS = {"mps2-an386": "cmsdk_uart", "lm3s6965evb": "pl011"}


@pytest.fixture(params=sorted(PORTS))
def echo_board(request, tmp_path_factory):
    machine = request.param
    fw = resource_dir("firmware")
    proj = tmp_path_factory.mktemp(f"echo-{machine}")
    shutil.copytree(FIXTURE / "src", proj / "src")
    shutil.copytree(fw / "include" / "tinyml", proj / "include" / "tinyml")
    (proj / "ld").mkdir()
    for f in (f"{machine}.ld", "cortex_m_sections.ld"):
        shutil.copy(fw / "ports" / "cortex_m" / f, proj / "ld" / f)
    for d in ("cortex_m", PORTS[machine]):
        shutil.copytree(fw / "ports" / d, proj / "src" / "port" / d, ignore=shutil.ignore_patterns("*.ld"))
    (proj / "platformio.ini").write_text(
        f"[env:{machine}]\nplatform = symlink://{fw / 'platforms' / 'tinyml-qemu'}\nboard = {machine}\n"
        f"board_build.ldscript = ld/{machine}.ld\n")
    cache = tmp_path_factory.getbasetemp() / "pio-cache"
    saved = os.environ.get("TINYML_CACHE")
    os.environ["TINYML_CACHE"] = str(cache)  # ensure_scons + pio_env read it
    try:
        pio.ensure_scons()
        env = {**os.environ, **pio.pio_env()}
        # plain PlatformIO, as a user without tinyml would run it
        r = subprocess.run([sys.executable, "-m", "platformio", "run", "-d", str(proj), "-t", "upload"],
                           capture_output=True, text=True, env=env, timeout=300)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
        board = qemu.read_state(proj)
        assert board is not None and board.machine == machine
        yield board
    finally:
        qemu.stop(proj)
        if saved is None:
            os.environ.pop("TINYML_CACHE", None)
        else:
            os.environ["TINYML_CACHE"] = saved


def _readline(sock: socket.socket, buf: bytearray, timeout: float = 10.0) -> bytes:
    deadline = time.monotonic() + timeout
    while b"\n" not in buf:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(4096)
        assert chunk, "the virtual board closed the connection"
        buf += chunk
    line, _, rest = bytes(buf).partition(b"\n")
    buf[:] = rest
    return line


def test_echo_port(echo_board):
    with socket.create_connection(("127.0.0.1", echo_board.port), timeout=10) as s:
        # sent at once: the guest has not even booted yet (wait=on starts it on connect)
        s.sendall(b"early\n")
        buf = bytearray()
        assert _readline(s, buf) == f"echo-fixture {echo_board.machine} ready".encode()
        assert _readline(s, buf).startswith(b"echo early t=")
        # 100 lines of 200 bytes: every byte through the RX interrupt and ring buffer
        for i in range(100):
            payload = bytes((i * 7 + k) % 26 + 97 for k in range(200))
            s.sendall(payload + b"\n")
            line = _readline(s, buf)
            assert line.startswith(b"echo " + payload + b" t="), line[:80]
        # the clock runs while the core sleeps: 100 ms of device time take ~100 ms of real time
        def stamp(line: bytes) -> int:
            return int(line.split(b" t=")[1].split(b" ")[0])

        s.sendall(b"mark\n")
        t0 = stamp(_readline(s, buf))
        start = time.monotonic()
        s.sendall(b"sleep\n")
        t1 = stamp(_readline(s, buf))
        real = time.monotonic() - start
    assert 100_000 <= t1 - t0 < 150_000
    assert 0.08 < real < 2.0
