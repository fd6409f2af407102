"""Virtual boards (QEMU, simavr): the state a running board leaves in its project, and stopping it.

The tinyml-qemu platform's upload target (firmware/platforms/tinyml-qemu/builder/main.py) starts
``qemu-system-arm`` in the background and writes ``DIR/.tinyml/qemu.json`` (pid, TCP port, the
exact command) and ``DIR/.tinyml/port`` (``socket://127.0.0.1:PORT``). Starting lives in the
platform so that plain ``pio run -t upload`` works without tinyml; this module only reads that
state, checks the emulator exists before a build, and stops the board.

The tinyml-simavr platform (the virtual Arduino Uno) does the same with its UART bridge on
libsimavr and ``DIR/.tinyml/simavr.json``; every function here handles both.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml.boards import Board
from tinyml.errors import ErrorKind, TinymlError
from tinyml.runner import require_tool

QEMU = "qemu-system-arm"
QEMU_HINT = "install QEMU: sudo apt install qemu-system-arm (Debian/Ubuntu), then retry"
ARM_GCC = "arm-none-eabi-gcc"
ARM_GCC_HINT = "install the Arm cross compiler: sudo apt install gcc-arm-none-eabi libnewlib-arm-none-eabi"
AVR_GCC = "avr-gcc"
AVR_GCC_HINT = "install the AVR cross compiler: sudo apt install gcc-avr avr-libc arduino-core-avr"
SIMAVR_PLATFORM = "tinyml-simavr"
ARDUINO_AVR_DIR = "/usr/share/arduino/hardware/arduino/avr"  # Debian's arduino-core-avr
SIMAVR_HINT = "install simavr's library and the host compiler: sudo apt install libsimavr-dev libelf-dev gcc"
BRIDGE = "simavr-uart-bridge"  # the process name of the virtual Uno (firmware/platforms/tinyml-simavr/bridge)
# state file in DIR/.tinyml -> what the emulator's command line contains
STATE_FILES = {"qemu.json": QEMU, "simavr.json": BRIDGE}


@dataclass(frozen=True)
class VirtualBoard:
    pid: int
    port: int
    url: str
    machine: str
    argv: list[str]
    log: str

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> VirtualBoard:
        return cls(pid=int(d["pid"]), port=int(d["port"]), url=str(d["url"]), machine=str(d.get("machine", "")),
                   argv=[str(a) for a in d.get("argv", [])], log=str(d.get("log", "")))


def require_qemu() -> str:
    return require_tool(QEMU, QEMU_HINT)


def require_arm_gcc() -> str:
    return require_tool(ARM_GCC, ARM_GCC_HINT)


def require_emulator(board: Board) -> str:
    """The emulator of a virtual board (QEMU, or the host gcc + libsimavr the Uno bridge needs)."""
    if board.pio_platform == SIMAVR_PLATFORM:
        if not Path("/usr/include/simavr/sim_avr.h").is_file():
            raise TinymlError("libsimavr's headers (/usr/include/simavr) are not installed", hint=SIMAVR_HINT,
                              kind=ErrorKind.TOOL)
        return require_tool("gcc", SIMAVR_HINT)
    return require_qemu()


def require_cross_compiler(board: Board) -> str:
    if board.arch == "avr":
        gcc = require_tool(AVR_GCC, AVR_GCC_HINT)
        if board.pio_platform == SIMAVR_PLATFORM:
            core = Path(os.environ.get("TINYML_ARDUINO_AVR") or ARDUINO_AVR_DIR)
            if not (core / "cores" / "arduino" / "Arduino.h").is_file():
                raise TinymlError(f"the Arduino AVR core is not in {core}", hint="sudo apt install arduino-core-avr "
                                  "(or set TINYML_ARDUINO_AVR to a copy of hardware/arduino/avr)",
                                  kind=ErrorKind.TOOL)
        return gcc
    return require_arm_gcc()


def state_file(project: Path) -> Path:
    return Path(project) / ".tinyml" / "qemu.json"


def _is_qemu(pid: int, marker: str = QEMU) -> bool:
    try:
        return marker.encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


def read_state(project: Path) -> VirtualBoard | None:
    """The virtual board started from ``project``, if one is still running."""
    for name, marker in STATE_FILES.items():
        path = Path(project) / ".tinyml" / name
        try:
            board = VirtualBoard.from_dict(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, KeyError):
            continue
        if _is_qemu(board.pid, marker):
            return board
    return None


def stop(project: Path, timeout: float = 5.0) -> VirtualBoard | None:
    """Stop the virtual board of ``project``; returns what was stopped (None if nothing ran)."""
    board = read_state(project)
    for name in (*STATE_FILES, "port"):
        (Path(project) / ".tinyml" / name).unlink(missing_ok=True)
    if board is None:
        return None
    try:
        os.kill(board.pid, signal.SIGTERM)
    except ProcessLookupError:
        return board
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _is_running(board):
        time.sleep(0.05)
    if _is_running(board):
        with contextlib.suppress(ProcessLookupError):
            os.kill(board.pid, signal.SIGKILL)
    return board


def _is_running(board: VirtualBoard) -> bool:
    return any(_is_qemu(board.pid, marker) for marker in STATE_FILES.values())


def wait_listening(board: VirtualBoard, timeout: float = 5.0) -> None:
    """Fail clearly if the emulator died right after start (its log says why)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _is_running(board):
            return
        time.sleep(0.05)
    log = Path(board.log).read_text(errors="replace")[-2000:] if board.log and Path(board.log).is_file() else ""
    raise TinymlError(f"QEMU ({board.machine}) exited right after starting" + (f":\n{log}" if log else ""),
                      hint="run `tinyml -v flash ...` to see the exact QEMU command", kind=ErrorKind.TOOL)
