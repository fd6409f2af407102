"""esptool checks the chip before writing: the real esptool against a fake ESP32-S3 ROM bootloader
on a socket:// port (SLIP framing; answers SYNC and GET_SECURITY_INFO with chip id 9, nothing else).
An ESP32 image for that port must stop with a one-line "This chip is ESP32-S3, not ESP32" and no
write command ever reaches the 'chip'."""

from __future__ import annotations

import socket
import struct
import threading
import time
from pathlib import Path

import pytest

from tinyml.errors import EXIT_CODES, ErrorKind

pytestmark = pytest.mark.unit

SYNC, READ_REG, SECURITY_INFO = 0x08, 0x0A, 0x14
WRITE_OPS = {0x02, 0x03, 0x10, 0x11, 0xD0}  # FLASH_BEGIN/DATA, MEM_BEGIN/END, ERASE_FLASH


def _slip(pkt: bytes) -> bytes:
    return b"\xc0" + pkt.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0"


class FakeS3Rom(threading.Thread):
    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.srv = socket.socket()
        self.srv.bind(("127.0.0.1", 0))
        self.srv.listen()
        self.port = self.srv.getsockname()[1]
        self.ops: list[int] = []

    def run(self) -> None:
        self.srv.settimeout(30)
        try:
            conn, _ = self.srv.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(30)
            buf = b""
            while True:
                try:
                    chunk = conn.recv(4096)
                except OSError:
                    return
                if not chunk:
                    return
                buf += chunk
                while buf.count(b"\xc0") >= 2:
                    start = buf.index(b"\xc0")
                    end = buf.index(b"\xc0", start + 1)
                    raw, buf = buf[start + 1:end], buf[end:]
                    if not raw:
                        buf = buf[1:] if buf.startswith(b"\xc0\xc0") else buf
                        continue
                    buf = buf[1:]
                    pkt = raw.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
                    if len(pkt) < 8 or pkt[0] != 0:
                        continue
                    op = pkt[1]
                    self.ops.append(op)
                    for reply in self._answer(op):
                        conn.sendall(_slip(reply))

    @staticmethod
    def _answer(op: int) -> list[bytes]:
        def resp(val: int, data: bytes) -> bytes:
            return struct.pack("<BBHI", 1, op, len(data), val) + data

        ok = b"\x00\x00\x00\x00"
        if op == SYNC:
            return [resp(0x20120707, ok)] * 8  # the ROM answers one SYNC eight times
        if op == SECURITY_INFO:
            return [resp(0, struct.pack("<IBBBBBBBBII", 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0) + ok)]  # chip id 9: S3
        if op == READ_REG:
            return [resp(0, ok)]
        return [resp(0, b"\x01\x05\x00\x00")]  # anything else: "invalid message"


@pytest.fixture
def esp_project(tmp_path) -> Path:
    root = tmp_path / "p"
    build = root / ".pio" / "build" / "esp32dev"
    build.mkdir(parents=True)
    (root / "platformio.ini").write_text("[env:esp32dev]\nplatform = espressif32\nboard = esp32dev\n"
                                         "framework = arduino\n")
    (root / "tinyml.json").write_text('{"board": "esp32dev"}')
    for name in ("bootloader.bin", "partitions.bin", "firmware.bin"):
        (build / name).write_bytes(b"\xe9" + bytes(255))
    return root


def test_wrong_chip_stops_before_writing(run_cli, esp_project):
    rom = FakeS3Rom()
    rom.start()
    t0 = time.monotonic()
    r = run_cli("flash", str(esp_project), "--esptool", "--port", f"socket://127.0.0.1:{rom.port}", timeout=120)
    rom.srv.close()
    assert r.returncode == EXIT_CODES[ErrorKind.TOOL], r.stderr
    assert "This chip is ESP32-S3, not ESP32" in r.stderr and "Traceback" not in r.stderr
    assert len([line for line in r.stderr.splitlines() if line.startswith("error")]) == 1, r.stderr
    assert SYNC in rom.ops and SECURITY_INFO in rom.ops
    assert not WRITE_OPS & set(rom.ops), rom.ops
    assert time.monotonic() - t0 < 60


def test_fake_rom_is_an_esp32_s3_to_esptool(esp_project):
    """The same fake with --chip esp32s3 passes the chip check (so the test above fails for the
    right reason): esptool goes on past detection."""
    import subprocess
    import sys

    rom = FakeS3Rom()
    rom.start()
    r = subprocess.run([sys.executable, "-m", "esptool", "--chip", "esp32s3", "--port", f"socket://127.0.0.1:{rom.port}",
                        "--before", "no-reset", "--after", "no-reset", "chip-id"], capture_output=True, text=True,
                       timeout=120)
    rom.srv.close()
    assert "This chip is" not in r.stdout + r.stderr
    assert "ESP32-S3" in r.stdout, r.stdout + r.stderr
