"""The tinyml serial protocol, version 1 (docs/protocol.md): frame codec and stream decoder.

A frame is one text line ``@`` TYPE SEQ(4 hex) PAYLOAD(base64) ``*`` CRC(4 hex) ``\\r\\n``, with a
CRC-16/CCITT-FALSE over TYPE, SEQ and PAYLOAD as sent. Lines that do not start with ``@`` are
text (MLPerf Tiny ``m-...`` replies, user prints). The decoder never raises on bad input: every
byte ends up in a frame, a text line or a ``Corrupt`` event, so nothing is silently dropped.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass, field

import numpy as np

PROTOCOL_VERSION = 1
SYNC = b"@"
MAX_LINE = 1 << 16  # a line longer than this is garbage, reported and skipped

_BREAK = re.compile(rb"[\r\n@]")
_FRAME_TAIL = re.compile(rb"^.?[A-Z][0-9a-fA-F]{4}[A-Za-z0-9+/=]*\*[0-9a-fA-F]{4}$")

# Frame types (docs/protocol.md)
HELLO = "H"
INFER = "I"
INFER_BIN = "J"
STREAM = "S"
STOP = "X"
ECHO = "E"
PROFILE = "P"
RESULT = "R"
SAMPLE = "T"
ACK = "A"
LAYERS = "L"

NO_REQ = 0xFFFF
ERROR_NAMES = {0: "ok", 1: "crc", 2: "length", 3: "encoding", 4: "overlong", 5: "type", 6: "garbage",
               7: "invoke", 8: "argument"}


def crc16(data: bytes, crc: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection): crc16(b"123456789") == 0x29B1."""
    return binascii.crc_hqx(data, crc)


def encode_frame(ftype: str, seq: int, payload: bytes = b"") -> bytes:
    if len(ftype) != 1 or not ftype.isascii():
        raise ValueError(f"frame type must be one ASCII character, not {ftype!r}")
    body = ftype.encode() + f"{seq & 0xFFFF:04x}".encode() + base64.b64encode(payload)
    return SYNC + body + b"*" + f"{crc16(body):04x}".encode() + b"\n"


def encode_binary_frame(ftype: str, seq: int, payload: bytes) -> bytes:
    """A frame whose payload goes raw (the 'J' input frame): the receiver knows its length."""
    body = ftype.encode() + f"{seq & 0xFFFF:04x}".encode() + payload
    return SYNC + body + b"*" + f"{crc16(body):04x}".encode() + b"\n"


@dataclass(frozen=True)
class Frame:
    type: str
    seq: int
    payload: bytes
    raw: bytes = b""


@dataclass(frozen=True)
class Text:
    line: str


@dataclass(frozen=True)
class Corrupt:
    reason: str
    raw: bytes


Event = Frame | Text | Corrupt


def parse_frame(line: bytes) -> Frame | Corrupt:
    """One line that starts with ``@`` (line end stripped) -> Frame, or Corrupt saying why."""
    star = line.rfind(b"*")
    if not line.startswith(SYNC) or star < 6 or len(line) != star + 5:
        return Corrupt("malformed frame", line)
    body, crc_txt = line[1:star], line[star + 1:]
    try:
        crc = int(crc_txt.decode("ascii"), 16)
        seq = int(body[1:5].decode("ascii"), 16)
    except ValueError:
        return Corrupt("malformed frame header", line)
    if crc16(body) != crc:
        return Corrupt("CRC mismatch", line)
    try:
        payload = base64.b64decode(body[5:], validate=True)
    except (binascii.Error, ValueError):
        return Corrupt("bad base64 payload", line)
    ftype = chr(body[0])
    return Frame(ftype, seq, payload, line)


class Decoder:
    """Turns a byte stream into events; feed() any chunks, in any split."""

    def __init__(self, max_line: int = MAX_LINE):
        self._buf = bytearray()
        self._max = max_line
        self._skipping = False  # inside an overlong line: drop until its end (already reported)
        self._scanned = 0  # bytes of _buf already searched for a line end

    def feed(self, data: bytes) -> list[Event]:
        events: list[Event] = []
        self._buf += data
        while True:
            # A sync char always starts a new frame, even mid-line: a truncated frame before it
            # is reported, never glued to the next one.
            m = _BREAK.search(self._buf, max(self._scanned, 1) if self._buf[:1] == SYNC else self._scanned)
            if m is None:
                self._scanned = len(self._buf)
                if len(self._buf) > self._max:
                    if not self._skipping:
                        events.append(Corrupt("line too long", bytes(self._buf[:64])))
                    self._skipping = True
                    self._buf.clear()
                    self._scanned = 0
                return events
            nl = m.start()
            self._scanned = 0
            line = bytes(self._buf[:nl])
            ended_by_sync = self._buf[nl] == 0x40
            del self._buf[:nl if ended_by_sync else nl + 1]
            if self._skipping:
                self._skipping = False
                continue
            ev = self._line(line, truncated=ended_by_sync)
            if ev is not None:
                events.append(ev)

    def _line(self, line: bytes, truncated: bool) -> Event | None:
        line = line.replace(b"\x00", b"")
        if not line:
            return None
        if line.startswith(SYNC):
            if truncated:
                return Corrupt("truncated frame", line)
            return parse_frame(line)
        text = line.decode("ascii", errors="replace")
        if truncated and not text.strip():
            return None
        if _FRAME_TAIL.search(line):
            # a frame whose '@' was damaged: report it, do not show it as device text
            return Corrupt("frame without its sync character", line)
        return Text(text)


# --------------------------------------------------------------------------- payloads

@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # "int8" | "float32"
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    nbytes: int

    @property
    def np_dtype(self) -> type[np.generic]:
        return np.float32 if self.dtype == "float32" else np.int8

    def dequantize(self, q: np.ndarray) -> np.ndarray:
        if self.dtype == "float32" or self.scale == 0.0:
            return q.astype(np.float32)
        return ((q.astype(np.int32) - self.zero_point) * np.float32(self.scale)).astype(np.float32)


@dataclass(frozen=True)
class Hello:
    proto: int
    model: str
    sha256: str
    engine: str
    board: str
    input: TensorInfo
    output: TensorInfo
    arena: int
    layers: int
    samples: int
    boot: bool
    req: int
    uptime_us: int
    init_ok: bool
    fields: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        def t(x: TensorInfo) -> dict[str, object]:
            return {"dtype": x.dtype, "shape": list(x.shape), "scale": x.scale, "zero_point": x.zero_point,
                    "bytes": x.nbytes}
        return {"protocol": self.proto, "model": self.model, "sha256": self.sha256, "engine": self.engine,
                "board": self.board, "input": t(self.input), "output": t(self.output), "arena_bytes": self.arena,
                "layers": self.layers, "samples": self.samples, "init_ok": self.init_ok}


class PayloadError(ValueError):
    """A frame with a valid CRC whose payload does not have the documented layout."""


def _tensor(desc: str) -> TensorInfo:
    try:
        dt, dims, scale_bits, zp, nbytes = desc.split(":")
        shape = tuple(int(d) for d in dims.split("x"))
        scale = struct.unpack("<f", struct.pack("<I", int(scale_bits, 16)))[0]
        dtype = {"i8": "int8", "f32": "float32"}[dt]
        return TensorInfo(dtype, shape, float(scale), int(zp), int(nbytes))
    except (ValueError, KeyError, struct.error) as exc:
        raise PayloadError(f"bad tensor description {desc!r}") from exc


def parse_hello(payload: bytes) -> Hello:
    try:
        text = payload.decode("ascii")
        fields = dict(kv.split("=", 1) for kv in text.split(";") if kv)
        return Hello(proto=int(fields["proto"]), model=fields["model"], sha256=fields["sha256"],
                     engine=fields["engine"], board=fields["board"], input=_tensor(fields["in"]),
                     output=_tensor(fields["out"]), arena=int(fields["arena"]), layers=int(fields["layers"]),
                     samples=int(fields["samples"]), boot=fields["boot"] == "1", req=int(fields["req"]),
                     uptime_us=int(fields["uptime_us"]), init_ok=fields.get("init", "1") == "1", fields=fields)
    except (UnicodeDecodeError, KeyError, ValueError) as exc:
        if isinstance(exc, PayloadError):
            raise
        raise PayloadError(f"bad hello payload: {exc}") from exc


@dataclass(frozen=True)
class Result:
    req: int
    us: int
    cycles: int
    output: bytes


@dataclass(frozen=True)
class StreamSample:
    index: int
    sample: int
    us: int
    cycles: int
    output: bytes


@dataclass(frozen=True)
class Ack:
    req: int
    code: int
    message: str

    @property
    def ok(self) -> bool:
        return self.code == 0

    @property
    def name(self) -> str:
        return ERROR_NAMES.get(self.code, f"code {self.code}")


def parse_result(payload: bytes, out_bytes: int) -> Result:
    if len(payload) != 10 + out_bytes:
        raise PayloadError(f"result payload has {len(payload)} bytes, expected {10 + out_bytes}")
    req, us, cycles = struct.unpack_from("<HII", payload)
    return Result(req, us, cycles, payload[10:])


def parse_sample(payload: bytes, out_bytes: int) -> StreamSample:
    if len(payload) != 14 + out_bytes:
        raise PayloadError(f"stream payload has {len(payload)} bytes, expected {14 + out_bytes}")
    index, sample, us, cycles = struct.unpack_from("<IHII", payload)
    return StreamSample(index, sample, us, cycles, payload[14:])


@dataclass(frozen=True)
class Layers:
    req: int
    cycles: list[int]  # per layer of the last inference; empty if the firmware has no layer hooks


def parse_layers(payload: bytes) -> Layers:
    if len(payload) < 4:
        raise PayloadError("layers payload shorter than 4 bytes")
    req, n = struct.unpack_from("<HH", payload)
    if len(payload) != 4 + 4 * n:
        raise PayloadError(f"layers payload has {len(payload)} bytes for {n} layers")
    return Layers(req, list(struct.unpack_from(f"<{n}I", payload, 4)))


def parse_ack(payload: bytes) -> Ack:
    if len(payload) < 3:
        raise PayloadError("ack payload shorter than 3 bytes")
    req, code = struct.unpack_from("<HB", payload)
    return Ack(req, code, payload[3:].decode("ascii", errors="replace"))


def stream_payload(period_us: int, count: int) -> bytes:
    return struct.pack("<II", period_us, count)


# --------------------------------------------------------------------------- sequence numbers

@dataclass
class SeqTracker:
    """Checks the device's frame sequence numbers: counts lost, out-of-order frames and resets."""

    expected: int | None = None
    received: int = 0
    lost: int = 0
    out_of_order: int = 0
    resets: int = 0
    resync: bool = False  # after a reconnect: accept the next number as the new start

    def check(self, seq: int, boot_hello: bool = False) -> str | None:
        """Records one frame; returns "reset", "lost", "out-of-order" or None when in order."""
        seen_before = self.received > 0
        self.received += 1
        status: str | None = None
        if boot_hello:
            # a boot banner: the device restarted (its numbering restarts at 0)
            if seen_before:
                status = "reset"
                self.resets += 1
        elif self.expected is not None and seq != self.expected and not self.resync:
            gap = (seq - self.expected) & 0xFFFF
            if gap < 0x8000:
                self.lost += gap
                status = "lost"
            else:
                self.out_of_order += 1
                status = "out-of-order"
        self.resync = False
        self.expected = (seq + 1) & 0xFFFF
        return status
