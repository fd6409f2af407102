"""The virtual Uno's UART bridge on its own (firmware/platforms/tinyml-simavr/bridge), with tiny
bare-metal AVR programs instead of a tinyml firmware: its command line, its errors and exit codes,
the start on the first client, both directions of the UART, the end of a sketch and a crash."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from tinyml.resources import resource_dir

pytestmark = [
    pytest.mark.emulator,
    pytest.mark.skipif(shutil.which("avr-gcc") is None or shutil.which("gcc") is None
                       or not Path("/usr/include/simavr/sim_avr.h").is_file(),
                       reason="needs avr-gcc, gcc and libsimavr-dev"),
]

# Echoes each received byte + 1 until it receives '!', then says "bye" and ends (cli; sleep).
ECHO = r"""
#include <avr/io.h>
#include <avr/interrupt.h>
#include <avr/sleep.h>
static void put(char c) { while (!(UCSR0A & (1 << UDRE0))) {} UDR0 = c; }
int main(void) {
    UBRR0H = 0; UBRR0L = 8; /* 115200 baud at 16 MHz */
    UCSR0B = (1 << RXEN0) | (1 << TXEN0);
    UCSR0C = (1 << UCSZ01) | (1 << UCSZ00);
    put('>');
    for (;;) {
        char c;
        while (!(UCSR0A & (1 << RXC0))) {}
        c = UDR0;
        if (c == '!') break;
        put((char)(c + 1));
    }
    put('b'); put('y'); put('e');
    while (!(UCSR0A & (1 << TXC0))) {}
    cli();
    sleep_enable();
    sleep_cpu();
    return 0;
}
"""

# Jumps into erased flash (0xFFFF is no AVR instruction): simavr's core crashes.
CRASH = r"""
int main(void) { ((void (*)(void))0x3000)(); return 0; }
"""


@pytest.fixture(scope="module")
def bridge(tmp_path_factory) -> Path:
    src = resource_dir("firmware") / "platforms" / "tinyml-simavr" / "bridge" / "simavr_uart_bridge.c"
    out = tmp_path_factory.mktemp("bridge") / "simavr-uart-bridge-test"
    subprocess.run(["gcc", "-O2", "-Wall", "-Wextra", "-Werror", "-I/usr/include/simavr", str(src), "-o", str(out),
                    "-lsimavr", "-lelf"], check=True, capture_output=True, timeout=120)
    return out


def _elf(tmp_path: Path, code: str) -> Path:
    (tmp_path / "p.c").write_text(code)
    elf = tmp_path / "p.elf"
    subprocess.run(["avr-gcc", "-mmcu=atmega328p", "-DF_CPU=16000000UL", "-Os", "-Wall", str(tmp_path / "p.c"),
                    "-o", str(elf)], check=True, capture_output=True, timeout=60)
    return elf


def _start(bridge: Path, *args: str) -> tuple[subprocess.Popen[str], int, str]:
    """The running bridge, its TCP port and what it logged before listening."""
    proc = subprocess.Popen([str(bridge), *args, "--start-delay-ms", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    before = ""
    for line in proc.stdout:
        if line.startswith("listening on 127.0.0.1:"):
            return proc, int(line.rsplit(":", 1)[1]), before
        before += line
    proc.wait(timeout=5)
    raise AssertionError(f"the bridge exited with {proc.returncode} before listening")


def _recv_until(sock: socket.socket, end: bytes, timeout: float = 10.0) -> bytes:
    got = b""
    deadline = time.monotonic() + timeout
    sock.settimeout(0.2)
    while end not in got and time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            break
        got += chunk
    return got


def test_usage_errors(bridge):
    for args in ([], ["a.elf", "--port"], ["a.elf", "--bogus"], ["a.elf", "--port", "70000"]):
        r = subprocess.run([str(bridge), *args], capture_output=True, text=True, timeout=10)
        assert r.returncode == 64 and "usage: simavr_uart_bridge" in r.stderr, args


def test_unreadable_firmware_and_unknown_mcu(bridge, tmp_path):
    r = subprocess.run([str(bridge), str(tmp_path / "missing.elf")], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "cannot read firmware" in r.stderr
    elf = _elf(tmp_path, CRASH)
    r = subprocess.run([str(bridge), str(elf), "--mcu", "atmega9999"], capture_output=True, text=True, timeout=10)
    assert r.returncode == 1 and "does not know the MCU 'atmega9999'" in r.stderr


def test_two_way_uart_and_the_end_of_the_sketch(bridge, tmp_path):
    proc, port, before = _start(bridge, str(_elf(tmp_path, ECHO)), "--port", "0")
    assert "UART FIFO only" in before  # no tinyml credit symbol in this program
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            # the CPU starts only now, so its first byte is not lost
            assert _recv_until(s, b">") == b">"
            s.sendall(b"HAL")
            assert _recv_until(s, b"BM") == b"IBM"
            s.sendall(b"!")
            assert _recv_until(s, b"bye") == b"bye"
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stdout is not None
    log = proc.stdout.read()
    assert "the sketch ended" in log


def test_a_crash_exits_2_and_says_where(bridge, tmp_path):
    proc, port, _ = _start(bridge, str(_elf(tmp_path, CRASH)), "--port", "0")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            assert proc.wait(timeout=10) == 2
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.stdout is not None
    assert "crashed" in proc.stdout.read()


def test_sigterm_stops_it_and_reports_the_ram(bridge, tmp_path):
    proc, port, _ = _start(bridge, str(_elf(tmp_path, ECHO)), "--port", "0")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        assert _recv_until(s, b">") == b">"
        proc.terminate()
        assert proc.wait(timeout=10) == 0
    assert proc.stdout is not None
    log = proc.stdout.read()
    assert "stopped by a signal" in log and "ram: static " in log and "of 2048 B SRAM" in log
