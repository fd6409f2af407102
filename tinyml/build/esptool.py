"""Writing a prebuilt ESP32 image with esptool, without PlatformIO (``tinyml flash DIR --esptool``).

A project built on another machine (``pio run`` leaves ``bootloader.bin``, ``partitions.bin`` and
``firmware.bin`` in ``.pio/build/<env>/``) can be flashed from one that has no ESP32 platform
installed: esptool ships with tinyml and talks to ``/dev/ttyUSB0``, ``socket://`` and
``rfc2217://`` ports alike. The offsets are those of ESP-IDF's default layout as the Arduino core
uses it (the bootloader sits at 0x1000 on the ESP32 and at 0x0 on the ESP32-S3).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from tinyml import runner
from tinyml.boards import Board
from tinyml.errors import ErrorKind, TinymlError

# board arch -> (esptool --chip, bootloader offset)
CHIPS = {"xtensa-lx6": ("esp32", 0x1000), "xtensa-lx7": ("esp32s3", 0x0)}
PARTITIONS_OFFSET = 0x8000
APP_OFFSET = 0x10000
BAUD = 460800


def images(build_dir: Path) -> list[tuple[int, Path]] | None:
    """(offset, file) to write, or None when the build lacks one of them."""
    files = [build_dir / "bootloader.bin", build_dir / "partitions.bin", build_dir / "firmware.bin"]
    if not all(f.is_file() for f in files):
        return None
    return list(zip((-1, PARTITIONS_OFFSET, APP_OFFSET), files, strict=True))


def esptool_argv(board: Board, build_dir: Path, port: str, baud: int = BAUD) -> list[str]:
    """The exact esptool command that writes the project's images."""
    if board.arch not in CHIPS:
        raise TinymlError(f"board {board.id} is not an ESP32: esptool cannot flash it",
                          hint="drop --esptool (PlatformIO uploads every board)", kind=ErrorKind.UNSUPPORTED)
    chip, boot_offset = CHIPS[board.arch]
    found = images(build_dir)
    if found is None:
        raise TinymlError(f"{build_dir} has no prebuilt image (bootloader.bin, partitions.bin, firmware.bin)",
                          hint="build the project with `pio run` on a machine with the ESP32 platform, "
                               "and copy its .pio/build folder here", kind=ErrorKind.INPUT)
    argv = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud),
            "--before", "default-reset", "--after", "hard-reset", "write-flash", "-z"]
    for offset, path in found:
        argv += [hex(boot_offset if offset < 0 else offset), str(path)]
    return argv


def write_image(board: Board, build_dir: Path, port: str) -> list[str]:
    argv = esptool_argv(board, build_dir, port)
    run_esptool(argv, port)
    return argv


def write_flash_argv(chip: str, port: str, images: list[tuple[int, Path]], baud: int = BAUD) -> list[str]:
    """esptool's documented CLI for writing ``(offset, file)`` pairs. ``--chip`` makes esptool
    read the chip id first and stop before writing when the board is another chip."""
    argv = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", str(baud),
            "--before", "default-reset", "--after", "hard-reset", "write-flash", "-z"]
    for offset, path in sorted(images):
        argv += [hex(offset), str(path)]
    return argv


def run_esptool(argv: list[str], port: str, what: str = "esptool write-flash") -> None:
    """Run esptool through the runner; its fatal error (wrong chip, no such port, no answer)
    becomes one line instead of a traceback-like dump."""
    try:
        runner.run(argv, timeout=300, what=what)
    except TinymlError as exc:
        found = re.search(r"A fatal error occurred: (.+)", exc.message)
        if not found:
            raise
        reason = found.group(1).strip()
        if "not " in reason and "This chip is" in reason:
            hint = "this port has another ESP32 variant: pass the matching --board (or bundle)"
        elif "Could not open" in reason:
            hint = "check the port name (tinyml ports lists the connected boards)"
        else:
            hint = "hold BOOT while pressing EN to enter the bootloader, check the cable, or lower the baud rate"
        raise TinymlError(f"{what} failed on {port}: {reason}", hint=hint, kind=ErrorKind.TOOL) from exc
