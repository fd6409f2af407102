"""The digits CNN on the virtual Arduino Uno: CONV_2D, MAX_POOL_2D, FULLY_CONNECTED and SOFTMAX
with weights in PROGMEM, bit-exact with TFLM, within the 2 KB the board budgets (measured with the
bridge's stack paint). Kept apart from test_uno_sim.py (the sine chain) because its build takes ~20 s."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ARDUINO_CORE = Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h")

pytestmark = [
    pytest.mark.emulator, pytest.mark.slow,
    pytest.mark.skipif(shutil.which("avr-gcc") is None or shutil.which("gcc") is None
                       or not Path("/usr/include/simavr/sim_avr.h").is_file() or not ARDUINO_CORE.is_file(),
                       reason="needs avr-gcc, arduino-core-avr, gcc and libsimavr-dev"),
]


def test_digits_cnn_fits_and_is_bit_exact_on_the_uno(zoo, tmp_path):
    """The digits CNN (CONV_2D, pooling, FULLY_CONNECTED, SOFTMAX; 360-byte arena) on the 2 KB Uno:
    every request frame (~100 bytes) is bigger than the sketch's 64-byte receive buffer, so this also
    runs on the bridge's flow control; the RAM it really uses stays within the board's budget."""
    from tinyml.boards import get_board

    env = {**os.environ, "TINYML_CACHE": str(tmp_path / "cache")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True, env=env,
                              timeout=600)

    out = tmp_path / "digits"
    r = cli("generate", str(zoo["digits"]), "--board", "uno-sim", "-o", str(out))
    assert r.returncode == 0, r.stderr
    r = cli("flash", str(out), "--json")
    assert r.returncode == 0, r.stderr
    pid = json.loads(r.stdout)["pid"]
    try:
        r = cli("validate", str(out), "--data", str(zoo["digits_val"]), "--limit", "16", "--json", "-",
                "--require-exact")
        assert r.returncode == 0, r.stderr
        report = json.loads(r.stdout[r.stdout.index("{"):])
        assert report["metrics"]["bit_exact"] == report["metrics"]["samples"] == 16
        assert report["link"]["corrupt"] == report["link"]["lost"] == 0
        os.kill(pid, signal.SIGUSR1)
        log = out / ".tinyml" / "simavr.log"
        deadline = time.monotonic() + 5
        while "ram: static" not in log.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        m = re.search(r"ram: static (\d+) B \(data\+bss\), stack peak (\d+) B", log.read_text())
        assert m, log.read_text()
        static, stack = map(int, m.groups())
        arena = json.loads((out / "tinyml.json").read_text())["arena_bytes"]
        board = get_board("uno-sim")
        assert static + stack <= arena + board.ram_reserved_bytes <= board.ram_bytes
    finally:
        cli("stop", str(out))
