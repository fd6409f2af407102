"""`tinyml flash DIR --esptool`: a prebuilt ESP32 image written with esptool, no PlatformIO."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tinyml.boards import get_board
from tinyml.build.esptool import esptool_argv
from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError

pytestmark = pytest.mark.unit


def _esp_project(root: Path, board: str, env: str, with_images: bool = True) -> Path:
    root.mkdir(parents=True)
    (root / "platformio.ini").write_text(f"[env:{env}]\nplatform = espressif32\nboard = {board}\nframework = arduino\n")
    (root / "tinyml.json").write_text(json.dumps({"board": board}))
    build = root / ".pio" / "build" / env
    build.mkdir(parents=True)
    if with_images:
        for name in ("bootloader.bin", "partitions.bin", "firmware.bin"):
            (build / name).write_bytes(b"\xe9" + bytes(255))
    return root


@pytest.mark.parametrize("board,chip,boot", [("esp32dev", "esp32", "0x1000"), ("esp32-s3-devkitc-1", "esp32s3", "0x0")])
def test_esptool_command_line(tmp_path, board, chip, boot):
    build = _esp_project(tmp_path / "p", board, board) / ".pio" / "build" / board
    argv = esptool_argv(get_board(board), build, "/dev/ttyUSB0")
    assert argv[1:3] == ["-m", "esptool"]
    assert argv[argv.index("--chip") + 1] == chip and argv[argv.index("--port") + 1] == "/dev/ttyUSB0"
    tail = argv[argv.index("write-flash") + 2:]
    assert tail == [boot, str(build / "bootloader.bin"), "0x8000", str(build / "partitions.bin"),
                    "0x10000", str(build / "firmware.bin")]


def test_esptool_refuses_a_board_that_is_not_an_esp32(tmp_path):
    with pytest.raises(TinymlError) as exc:
        esptool_argv(get_board("uno"), tmp_path, "/dev/ttyUSB0")
    assert exc.value.kind == ErrorKind.UNSUPPORTED


def test_flash_esptool_without_a_prebuilt_image(run_cli, tmp_path):
    proj = _esp_project(tmp_path / "p", "esp32dev", "esp32dev", with_images=False)
    r = run_cli("flash", str(proj), "--esptool", "--port", "/dev/ttyUSB0")
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT] and "no prebuilt image" in r.stderr
    assert "Traceback" not in r.stderr


def test_flash_esptool_to_a_silent_port_is_a_clean_tool_error(run_cli, tmp_path):
    """esptool really runs (socket:// port, nothing answering the ROM bootloader protocol)."""
    proj = _esp_project(tmp_path / "p", "esp32dev", "esp32dev")
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        port = srv.getsockname()[1]
        t0 = time.monotonic()
        r = run_cli("flash", str(proj), "--esptool", "--port", f"socket://127.0.0.1:{port}", timeout=300)
    assert r.returncode == EXIT_CODES[ErrorKind.TOOL], r.stderr
    assert "esptool write-flash failed" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 120
