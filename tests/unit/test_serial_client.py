"""DeviceClient and Monitor against a scripted in-memory device: a reset in the middle of a
stream or of a run (the port stays open, as with a USB-serial chip on the board), lost and
corrupt frames. The C runtime is tested in tests/codegen/test_runtime_host*.py."""

from __future__ import annotations

import base64
import struct

import pytest

from tinyml.serial import codec
from tinyml.serial.client import DeviceClient

pytestmark = pytest.mark.unit

HELLO = ("proto=1;model=m;sha256=" + "ab" * 32 + ";engine=aot;board=b;in=i8:1x2:3c23d70a:0:2;"
         "out=i8:1x2:3d800000:-1:2;arena=8;layers=1;samples=2;boot={boot};req={req};uptime_us=5;init=1")


def dev_frame(ftype: str, seq: int, payload: bytes) -> bytes:
    body = ftype.encode() + f"{seq:04x}".encode() + base64.b64encode(payload)
    return b"@" + body + b"*" + f"{codec.crc16(body):04x}".encode() + b"\r\n"


class ScriptedDevice:
    """Answers like the runtime: hello, infer (out = x + 1), stream start/stop; ``reset_after``
    makes it reboot (boot banner, numbering from 0, stream off) after that many frames sent."""

    def __init__(self, reset_after: int | None = None, corrupt_every: int | None = None):
        self.out = bytearray()
        self.seq = 0
        self.sent = 0
        self.reset_after = reset_after
        self.corrupt_every = corrupt_every
        self.streaming = False
        self.index = 0
        self.dec = codec.Decoder()
        self.timeout = 0.05

    def _emit(self, ftype: str, payload: bytes) -> None:
        f = bytearray(dev_frame(ftype, self.seq, payload))
        self.seq = (self.seq + 1) & 0xFFFF
        self.sent += 1
        if self.corrupt_every and self.sent % self.corrupt_every == 0:
            f[8] ^= 0x01
        self.out += f
        if self.reset_after is not None and self.sent == self.reset_after:
            self.reset_after = None
            self.seq, self.streaming, self.index = 0, False, 0
            self.out += b"m-timestamp-mode-performance\r\n"
            self._emit("H", HELLO.format(boot=1, req=65535).encode())

    # pyserial-like surface
    def write(self, data: bytes) -> int:
        for ev in self.dec.feed(data):
            if not isinstance(ev, codec.Frame):
                continue
            if ev.type == "H":
                self._emit("H", HELLO.format(boot=0, req=ev.seq).encode())
            elif ev.type == "I":  # (no bin=1 in the hello: the client sends base64 frames)
                out = bytes((b + 1) & 0xFF for b in ev.payload)
                self._emit("R", struct.pack("<HII", ev.seq, 10, 100) + out)
            elif ev.type == "S":
                self.streaming, self.index = True, 0
                self._emit("A", struct.pack("<HB", ev.seq, 0) + b"stream started")
            elif ev.type == "X":
                self.streaming = False
                self._emit("A", struct.pack("<HB", ev.seq, 0) + b"stopped")
        return len(data)

    @property
    def in_waiting(self) -> int:
        return len(self.out)

    def read(self, n: int = 1) -> bytes:
        if not self.out and self.streaming:
            self._emit("T", struct.pack("<IHII", self.index, self.index % 2, 10, 100) + bytes([self.index % 7, 1]))
            self.index += 1
        data = bytes(self.out[:n])
        del self.out[:n]
        return data

    def close(self) -> None:
        pass


def test_a_reset_in_the_middle_of_a_run_is_detected_and_the_run_completes():
    dev = ScriptedDevice(reset_after=30)
    c = DeviceClient(dev, url="fake://", timeout=2)
    c.hello()
    xs = [bytes([i, i + 1]) for i in range(60)]
    res = c.infer_many(xs, window=3)
    assert [r.output for r in res] == [bytes([(i + 1) & 0xFF, (i + 2) & 0xFF]) for i in range(60)]
    assert c.stats.resets == 1 and c.stats.retries >= 1


def test_corrupt_replies_are_counted_and_asked_again():
    dev = ScriptedDevice(corrupt_every=7)
    c = DeviceClient(dev, url="fake://", timeout=2)
    c.use_binary = False
    for _ in range(3):
        try:
            c.hello()
            break
        except Exception:  # noqa: BLE001 - the hello itself may be the damaged frame
            pass
    xs = [bytes([i, 0]) for i in range(50)]
    res = c.infer_many(xs, window=2, retry_after=0.2)
    assert [r.output for r in res] == [bytes([(i + 1) & 0xFF, 1]) for i in range(50)]
    assert c.stats.corrupt >= 5 and c.stats.retries >= c.stats.lost >= 5


def test_monitor_restarts_the_stream_after_an_in_band_reset(monkeypatch, tmp_path):
    from tinyml.serial import ports
    from tinyml.serial.monitor import Monitor

    dev = ScriptedDevice(reset_after=25)
    monkeypatch.setattr(ports, "open_port", lambda url, baud=115200, timeout=0.05: dev)
    said: list[str] = []
    m = Monitor("fake://", rate_hz=0, say=said.append)
    log = tmp_path / "m.jsonl"
    s = m.run(jsonl=log, count=60)
    assert s.results == 60 and s.resets == 1 and s.reconnects == 0 and s.corrupt == 0
    assert any("reset" in x for x in said)
    import json

    recs = [json.loads(line) for line in log.read_text().splitlines()]
    idx = [r["index"] for r in recs if "index" in r]
    restart = idx.index(0, 1)
    assert idx[:restart] == list(range(restart)) and idx[restart:] == list(range(len(idx) - restart))
    assert [r["event"] for r in recs if "event" in r] == ["hello", "reset", "summary"]
    # values are dequantized with the hello's output scale 0.0625 and zero point -1
    first = next(r for r in recs if "index" in r)
    assert first["values"] == [pytest.approx((first["output"][0] + 1) * 0.0625), pytest.approx(2 * 0.0625)]
