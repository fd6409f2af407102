"""The host side of the protocol codec: framing, CRC, the stream decoder under random input."""

from __future__ import annotations

import base64
import random
import struct
import time

import pytest

from tinyml.serial import codec

pytestmark = pytest.mark.unit


def test_crc16_is_ccitt_false():
    # the catalogue check value of CRC-16/CCITT-FALSE
    assert codec.crc16(b"123456789") == 0x29B1
    assert codec.crc16(b"") == 0xFFFF


def test_encode_then_decode_round_trips_any_payload_in_any_split():
    rng = random.Random(1)
    frames = [(rng.choice("HIRTAXSE"), rng.randrange(65536), rng.randbytes(rng.randrange(0, 200)))
              for _ in range(200)]
    stream = b"".join(codec.encode_frame(t, s, p) for t, s, p in frames)
    for _ in range(5):
        dec = codec.Decoder()
        events: list[codec.Event] = []
        i = 0
        while i < len(stream):
            n = rng.randrange(1, 300)
            events += dec.feed(stream[i:i + n])
            i += n
        assert [(e.type, e.seq, e.payload) for e in events if isinstance(e, codec.Frame)] == frames
        assert all(isinstance(e, codec.Frame) for e in events)


def test_every_single_byte_change_is_detected():
    frame = codec.encode_frame("R", 0x1234, bytes(range(40)))
    for i in range(len(frame) - 1):  # not the final line end
        for delta in (1, 0x20, 0x80):
            bad = bytearray(frame)
            bad[i] = (bad[i] + delta) & 0xFF
            events = codec.Decoder().feed(bytes(bad) + b"\n")
            accepted = [e for e in events if isinstance(e, codec.Frame)]
            # never silently accepted with other contents
            assert all((e.type, e.seq, e.payload) == ("R", 0x1234, bytes(range(40))) for e in accepted), (i, delta)
            if not accepted:
                assert any(isinstance(e, codec.Corrupt) for e in events), (i, delta, events)


def test_text_lines_and_frames_share_the_line():
    data = b"m-name-dut-[tinyml]\r\nm-ready\r\n" + codec.encode_frame("A", 7, b"\x07\x00\x00ok") + b"hello\n"
    events = codec.Decoder().feed(data)
    assert [type(e).__name__ for e in events] == ["Text", "Text", "Frame", "Text"]
    assert events[0] == codec.Text("m-name-dut-[tinyml]")


def test_a_sync_char_cuts_a_truncated_frame():
    good = codec.encode_frame("H", 1, b"x")
    events = codec.Decoder().feed(good[:10] + good)
    assert isinstance(events[0], codec.Corrupt) and events[0].reason == "truncated frame"
    assert isinstance(events[1], codec.Frame) and events[1].payload == b"x"


def test_overlong_line_is_reported_once_and_the_decoder_recovers():
    dec = codec.Decoder(max_line=1000)
    events = []
    for _ in range(10):
        events += dec.feed(b"x" * 500)
    events += dec.feed(b"\n" + codec.encode_frame("H", 2, b"ok"))
    assert sum(isinstance(e, codec.Corrupt) and e.reason == "line too long" for e in events) == 1
    assert isinstance(events[-1], codec.Frame) and events[-1].payload == b"ok"


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_never_crash_or_hang_the_decoder(seed):
    rng = random.Random(seed)
    dec = codec.Decoder(max_line=4096)
    alphabet = b"@*\r\n=+/0123456789abcdefAZaz%m-" + bytes(range(256))
    t0 = time.monotonic()
    total = 0
    for _ in range(300):
        if rng.random() < 0.5:
            chunk = rng.randbytes(rng.randrange(1, 400))
        else:
            chunk = bytes(rng.choice(alphabet) for _ in range(rng.randrange(1, 400)))
        for e in dec.feed(chunk):
            assert isinstance(e, codec.Frame | codec.Text | codec.Corrupt)
            if isinstance(e, codec.Frame):
                # a random frame only counts when its CRC really matches
                body = e.raw[1:e.raw.rfind(b"*")]
                assert codec.crc16(body) == int(e.raw[-4:], 16)
            total += 1
    assert time.monotonic() - t0 < 10


def test_garbage_between_frames_loses_no_valid_frame():
    rng = random.Random(7)
    sent = []
    stream = b""
    for k in range(100):
        f = codec.encode_frame("T", k, rng.randbytes(18))
        sent.append(k)
        junk = bytes(b for b in rng.randbytes(rng.randrange(0, 50)) if b not in (0x40,))
        stream += junk + b"\n" + f
    events = codec.Decoder().feed(stream + b"\n")
    assert [e.seq for e in events if isinstance(e, codec.Frame)] == sent


def _hello_payload(**over):
    f = {"proto": "1", "model": "m", "sha256": "ab" * 32, "engine": "aot", "board": "b",
         "in": "i8:1x8x8x1:3b808081:-128:64", "out": "f32:1x10:00000000:0:40", "arena": "100", "layers": "3",
         "samples": "2", "boot": "1", "req": "65535", "uptime_us": "5", "init": "1"}
    f.update(over)
    return ";".join(f"{k}={v}" for k, v in f.items()).encode()


def test_hello_parses_tensor_descriptions_exactly():
    h = codec.parse_hello(_hello_payload())
    assert h.input.shape == (1, 8, 8, 1) and h.input.dtype == "int8" and h.input.zero_point == -128
    assert h.input.scale == struct.unpack("<f", bytes.fromhex("8180803b"))[0]
    assert h.output.dtype == "float32" and h.output.nbytes == 40
    assert h.boot and h.init_ok


@pytest.mark.parametrize("bad", [b"", b"\xff\xfe", _hello_payload(**{"in": "i8:1x8:zz:0:8"}),
                                 _hello_payload(**{"out": "u4:1:0:0:1"}), b"proto=1;model=x"])
def test_bad_hello_payloads_raise_payload_error(bad):
    with pytest.raises(codec.PayloadError):
        codec.parse_hello(bad)


def test_result_and_sample_payload_lengths_are_checked():
    r = codec.parse_result(struct.pack("<HII", 3, 100, 2000) + b"\x01\x02", 2)
    assert (r.req, r.us, r.cycles, r.output) == (3, 100, 2000, b"\x01\x02")
    with pytest.raises(codec.PayloadError):
        codec.parse_result(struct.pack("<HII", 3, 100, 2000) + b"\x01", 2)
    with pytest.raises(codec.PayloadError):
        codec.parse_sample(b"\x00" * 10, 2)
    with pytest.raises(codec.PayloadError):
        codec.parse_ack(b"\x00")


def test_sequence_tracker_counts_loss_disorder_and_resets():
    t = codec.SeqTracker()
    assert t.check(0, boot_hello=True) is None  # first contact is not a reset
    assert t.check(1) is None
    assert t.check(4) == "lost" and t.lost == 2
    assert t.check(3) == "out-of-order" and t.out_of_order == 1
    assert t.check(0, boot_hello=True) == "reset" and t.resets == 1
    assert t.check(1) is None
    assert t.check(0xFFFF) == "out-of-order"
    t2 = codec.SeqTracker()
    for s in (0xFFFE, 0xFFFF, 0, 1):  # wraps without complaint
        assert t2.check(s) is None
    t2.resync = True
    assert t2.check(500) is None and t2.check(501) is None


def test_encode_frame_rejects_bad_types():
    with pytest.raises(ValueError):
        codec.encode_frame("HI", 0)
    assert codec.encode_frame("H", 0x1ffff).startswith(b"@Hffff")
    assert base64.b64decode(codec.encode_frame("I", 1, b"\x00\xff")[6:-6]) == b"\x00\xff"
