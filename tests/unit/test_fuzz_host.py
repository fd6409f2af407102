"""Fuzzing the host-side parsers, each case under a time limit (a hang fails the test).

- the .tflite reader on random mutations of REAL converter output (the test zoo's sine, digits
  and big models): only TinymlError may come out of parse + analysis + int8 checks;
- the serial decoder on random byte streams (uniform, and biased towards frame characters so
  that near-frames are common), split at random points: it never raises, every frame it
  returns carries a correct CRC, and every intact frame hidden in garbage is recovered;
- the DUT client on random frames WITH valid CRCs (random types, payloads, hello texts): bad
  payloads become counted 'corrupt' events, never exceptions.

Counts: TINYML_FUZZ_CASES (default 1500 per model and per stream kind). The figures of the
last full run are in docs/reliability.md.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import struct
import time
from collections.abc import Iterator

import pytest

from tinyml.errors import TinymlError
from tinyml.serial import codec
from tinyml.serial.client import DeviceClient

CASES = int(os.environ.get("TINYML_FUZZ_CASES", "1500"))
CASE_LIMIT_S = 2.0


class CaseTimeout(Exception):
    pass


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """SIGALRM after ``seconds``: a parser stuck in a loop fails the case instead of the run."""

    def on_alarm(signum, frame):  # noqa: ARG001
        raise CaseTimeout(f"case took longer than {seconds} s")

    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# ----------------------------------------------------------------------------- .tflite reader

def _mutate(raw: bytes, rng: random.Random, other: bytes) -> bytes:
    b = bytearray(raw)
    kind = rng.randrange(7)
    if kind == 0:  # a few random bytes
        for _ in range(rng.randrange(1, 9)):
            b[rng.randrange(len(b))] = rng.randrange(256)
    elif kind == 1:  # a 32-bit word (offsets, lengths, counts) set to an extreme
        k = rng.randrange(0, len(b) - 4) & ~3
        b[k:k + 4] = struct.pack("<I", rng.choice([0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 0x80000000, len(b), len(b) - 4,
                                                   rng.randrange(1 << 32)]))
    elif kind == 2:  # truncated
        del b[rng.randrange(len(b)):]
    elif kind == 3:  # a slice removed
        k = rng.randrange(len(b))
        del b[k:k + rng.randrange(1, 64)]
    elif kind == 4:  # a slice duplicated
        k = rng.randrange(len(b))
        b[k:k] = b[k:k + rng.randrange(1, 64)]
    elif kind == 5:  # spliced with another model
        k = rng.randrange(len(b))
        b[k:] = other[k:] if k < len(other) else b""
    else:  # bit flips all over
        for _ in range(rng.randrange(1, 40)):
            k = rng.randrange(len(b))
            b[k] ^= 1 << rng.randrange(8)
    return bytes(b)


def _reader_case(raw: bytes) -> str:
    from tinyml.model import analysis, checks
    from tinyml.model.tflite import parse

    try:
        model = parse(raw)
        analysis.analyze(model)
        checks.classify(model)
    except TinymlError:
        return "error"
    return "ok"


@pytest.mark.slow
@pytest.mark.parametrize("name", ["sine", "digits", "big"])
def test_reader_on_mutated_converter_output(zoo, name):
    raw = zoo[name].read_bytes()
    other = zoo["digits" if name != "digits" else "sine"].read_bytes()
    assert _reader_case(raw) == "ok"
    rng = random.Random(f"reader-{name}")
    seen = {"ok": 0, "error": 0}
    slowest = 0.0
    for case in range(CASES):
        m = _mutate(raw, rng, other)
        t0 = time.monotonic()
        try:
            with time_limit(CASE_LIMIT_S):
                seen[_reader_case(m)] += 1
        except Exception as exc:  # anything but TinymlError is a bug: show the input that caused it
            pytest.fail(f"case {case}: {type(exc).__name__}: {exc} (input sha prefix {m[:16].hex()}, "
                        f"{len(m)} bytes)")
        slowest = max(slowest, time.monotonic() - t0)
    print(f"\nreader fuzz {name}: {CASES} cases, {seen['ok']} parsed, {seen['error']} TinymlError, "
          f"slowest {slowest * 1000:.1f} ms")
    assert seen["error"] > CASES // 4  # the mutations do reach the error paths


# ----------------------------------------------------------------------------- serial decoder

FRAMEISH = b"@@@***\r\n\n" + b"0123456789abcdefABCDEF" + b"HRTAIJSXE" + b"+/=" + b"mMe-[]%"


def _stream(rng: random.Random, biased: bool, n: int) -> bytes:
    if biased:
        return bytes(rng.choice(FRAMEISH) for _ in range(n))
    return rng.randbytes(n)


def _feed_checked(dec: codec.Decoder, data: bytes, rng: random.Random) -> list[codec.Event]:
    events: list[codec.Event] = []
    k = 0
    while k < len(data):
        step = rng.randrange(1, 200)
        events += dec.feed(data[k:k + step])
        k += step
    for ev in events:
        assert isinstance(ev, codec.Frame | codec.Text | codec.Corrupt), ev
        if isinstance(ev, codec.Frame):
            star = ev.raw.rfind(b"*")
            assert codec.crc16(ev.raw[1:star]) == int(ev.raw[star + 1:], 16)  # no frame without a good CRC
    return events


@pytest.mark.unit
@pytest.mark.parametrize("biased", [False, True], ids=["uniform", "frame-characters"])
def test_decoder_on_random_streams(biased):
    rng = random.Random(f"decoder-{biased}")
    totals = {"frames": 0, "text": 0, "corrupt": 0}
    for case in range(CASES):
        dec = codec.Decoder(max_line=rng.choice([64, 1024, codec.MAX_LINE]))
        data = _stream(rng, biased, rng.randrange(1, 3000))
        try:
            with time_limit(CASE_LIMIT_S):
                evs = _feed_checked(dec, data, rng)
        except (AssertionError, CaseTimeout):
            raise
        except Exception as exc:
            pytest.fail(f"case {case}: {type(exc).__name__}: {exc} on {data[:80]!r}")
        totals["frames"] += sum(isinstance(e, codec.Frame) for e in evs)
        totals["text"] += sum(isinstance(e, codec.Text) for e in evs)
        totals["corrupt"] += sum(isinstance(e, codec.Corrupt) for e in evs)
    print(f"\ndecoder fuzz ({'biased' if biased else 'uniform'}): {CASES} streams, {totals}")
    if biased:
        assert totals["corrupt"] > CASES  # near-frames are reported as damaged, not shown as text


@pytest.mark.unit
def test_decoder_recovers_every_intact_frame_from_garbage():
    rng = random.Random("resync")
    recovered = planted = 0
    for _ in range(CASES // 3):
        frames = [codec.encode_frame(rng.choice("RTAH"), rng.randrange(65536), rng.randbytes(rng.randrange(0, 40)))
                  for _ in range(rng.randrange(1, 8))]
        data = bytearray()
        for f in frames:
            data += _stream(rng, rng.random() < 0.5, rng.randrange(0, 300))  # garbage before each frame
            data += f
        data += b"\n"
        dec = codec.Decoder()
        with time_limit(CASE_LIMIT_S):
            evs = _feed_checked(dec, bytes(data), rng)
        got = [e.raw + b"\n" for e in evs if isinstance(e, codec.Frame)]
        it = iter(got)
        assert all(any(g == f for g in it) for f in frames), "a planted frame was not recovered"
        planted += len(frames)
        recovered += len(frames)
    assert recovered == planted > 0


# ----------------------------------------------------------------------------- the client on valid-CRC junk

class _FakePort:
    def __init__(self, data: bytes):
        self.data = bytearray(data)

    def read(self, n: int = 1) -> bytes:
        out = bytes(self.data[:n])
        del self.data[:n]
        return out

    @property
    def in_waiting(self) -> int:
        return len(self.data)

    def write(self, data: bytes) -> int:
        return len(data)

    def close(self) -> None:
        pass


HELLO = (b"proto=1;model=m;sha256=00;engine=aot;board=b;in=i8:1x2:3c000000:0:2;out=i8:1x3:3c000000:0:3;"
         b"arena=8;layers=1;samples=0;boot=1;req=65535;uptime_us=1;init=1")


def _junk_frame(rng: random.Random, seq: int) -> bytes:
    t = rng.choice("HRTAZ")
    if t == "H" and rng.random() < 0.7:  # a hello with some fields damaged or missing
        parts = HELLO.split(b";")
        rng.shuffle(parts)
        parts = parts[:rng.randrange(len(parts) + 1)]
        if parts and rng.random() < 0.5:
            parts[rng.randrange(len(parts))] = rng.randbytes(rng.randrange(1, 12))
        payload = b";".join(parts)
    else:
        payload = rng.randbytes(rng.choice([0, 1, 2, 3, 12, 13, 16, 17, rng.randrange(40)]))
    return codec.encode_frame(t, seq, payload)


@pytest.mark.unit
def test_client_turns_valid_crc_junk_into_counted_events():
    rng = random.Random("client")
    kinds: dict[str, int] = {}
    for case in range(CASES // 3):
        stream = codec.encode_frame("H", 0, HELLO)  # a good hello first, so results have a size
        for seq in range(1, rng.randrange(2, 40)):
            stream += _junk_frame(rng, seq if rng.random() < 0.9 else rng.randrange(65536))
            if rng.random() < 0.2:
                stream += rng.randbytes(rng.randrange(1, 30))
        c = DeviceClient(_FakePort(stream), url="fuzz://")
        try:
            with time_limit(CASE_LIMIT_S):
                evs = c.drain(0.0) + c.poll(0.0)
        except CaseTimeout:
            raise
        except Exception as exc:
            pytest.fail(f"case {case}: {type(exc).__name__}: {exc}")
        for e in evs:
            kinds[e.kind] = kinds.get(e.kind, 0) + 1
    print(f"\nclient fuzz: {CASES // 3} streams, events {kinds}")
    assert kinds.get("corrupt", 0) > 0 and kinds.get("hello", 0) >= CASES // 3
    assert set(kinds) <= {"hello", "result", "sample", "ack", "text", "corrupt", "lost", "out-of-order", "reset"}
