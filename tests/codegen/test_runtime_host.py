"""The C runtime (firmware/src/runtime.c, protocol.c) built for the host with the fake model
fixture, driven through the same Python client the boards use. Also checks that the runtime
compiles warning-free for Cortex-M and AVR, and fits an Uno's SRAM."""

from __future__ import annotations

import contextlib
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml.errors import TinymlError
from tinyml.serial import codec
from tinyml.serial.client import DeviceClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "fake_model"))
import hostdev  # noqa: E402

pytestmark = pytest.mark.codegen


@pytest.fixture(scope="session")
def host_exe(tmp_path_factory) -> Path:
    return hostdev.build(tmp_path_factory.mktemp("hostdev"))


@pytest.fixture
def device(host_exe):
    with hostdev.HostDevice(host_exe) as dev:
        yield dev


@pytest.fixture
def client(device):
    with DeviceClient.open(device.url, timeout=3.0) as c:
        c.hello()
        yield c


def _raw_socket(url: str) -> socket.socket:
    host, port = url.removeprefix("socket://").split(":")
    s = socket.create_connection((host, int(port)), timeout=3)
    return s


# ----------------------------------------------------------------------------- cross compilers

@pytest.mark.parametrize("cc,flags", [
    ("arm-none-eabi-gcc", ["-mcpu=cortex-m3", "-mthumb", "-Os"]),
    ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-O2"]),
    ("avr-gcc", ["-mmcu=atmega328p", "-Os"]),
    ("gcc", ["-O2", "-pedantic"]),
])
def test_runtime_compiles_without_warnings(cc, flags, tmp_path):
    if shutil.which(cc) is None:
        pytest.skip(f"{cc} not installed")
    for src in ("runtime.c", "protocol.c"):
        subprocess.run([cc, *flags, "-std=c99", "-Wall", "-Wextra", "-Werror", "-Wshadow", "-Wconversion",
                        f"-I{hostdev.FW / 'include'}", f"-I{hostdev.HERE}", "-c", str(hostdev.FW / "src" / src),
                        "-o", str(tmp_path / (src + ".o"))], check=True, capture_output=True, text=True)


def test_runtime_fits_an_uno(tmp_path):
    if shutil.which("avr-gcc") is None:
        pytest.skip("avr-gcc not installed")
    objs = []
    for src in ("runtime.c", "protocol.c"):
        o = tmp_path / (src + ".o")
        subprocess.run(["avr-gcc", "-mmcu=atmega328p", "-Os", "-std=c99", f"-I{hostdev.FW / 'include'}",
                        f"-I{hostdev.HERE}", "-c", str(hostdev.FW / "src" / src), "-o", str(o)], check=True)
        objs.append(str(o))
    out = subprocess.run(["avr-size", "-A", *objs], check=True, capture_output=True, text=True).stdout
    ram = sum(int(m.group(2)) for m in re.finditer(r"^\.(data|bss|rodata)\S*\s+(\d+)", out, re.M))
    # the fake model's tensors are 16 + 4 bytes; everything else is the runtime's own state
    assert ram < 300, out


# ----------------------------------------------------------------------------- frames

def test_boot_banner_then_hello_on_request(host_exe):
    with hostdev.HostDevice(host_exe, wait_for_client=True) as dev:
        # a raw socket: pyserial's socket:// open discards what is already waiting (like a UART)
        s = _raw_socket(dev.url)
        buf = b""
        while buf.count(b"\n") < 3:
            buf += s.recv(4096)
        s.close()
        evs = codec.Decoder().feed(buf)
        assert evs[0] == codec.Text("m-timestamp-mode-performance")
        assert isinstance(evs[1], codec.Frame) and evs[1].type == "H" and evs[1].seq == 0
        assert codec.parse_hello(evs[1].payload).boot
        assert evs[2] == codec.Text("m-init-done")
        assert b"m-ready" not in buf  # no m-ready at boot (the MLPerf runner would be one reply behind)
    with hostdev.HostDevice(host_exe) as dev, DeviceClient.open(dev.url, timeout=3) as c:
        h = c.hello()
        assert not h.boot and h.proto == codec.PROTOCOL_VERSION
        assert h.sha256 == "00112233445566778899aabbccddeeff" * 2
        assert (h.model, h.engine, h.board) == ("fake", "fake", "unknown")
        assert h.input.shape == (1, 4, 4, 1) and h.input.nbytes == 16 and h.input.zero_point == -128
        assert np.float32(h.input.scale) == np.float32(0.00392156886)
        assert h.output.scale == 0.0625 and h.output.zero_point == -10
        assert (h.arena, h.layers, h.samples) == (32, 1, 3)
        assert c.stats.lost == 0 and c.stats.corrupt == 0


def test_inference_matches_the_model_for_random_inputs(client):
    rng = np.random.default_rng(3)
    xs = rng.integers(-128, 128, size=(300, 16), dtype=np.int8)
    res = client.infer_many([x.tobytes() for x in xs], window=4)
    got = np.stack([np.frombuffer(r.output, np.int8) for r in res])
    want = np.stack([hostdev.fake_reference(x) for x in xs])
    np.testing.assert_array_equal(got, want)
    assert all(r.us < 1_000_000 for r in res)
    assert client.stats.lost == client.stats.corrupt == client.stats.retries == 0


def test_bad_frames_get_error_replies_and_the_device_keeps_working(device):
    s = _raw_socket(device.url)
    good = codec.encode_frame("I", 0x10, bytes(16))
    bad_crc = good[:-3] + (b"0" if good[-3:-2] != b"0" else b"1") + good[-2:]
    cases = {
        "crc": bad_crc,
        "length": codec.encode_frame("I", 0x11, bytes(15)),
        "encoding": b"@I0012AA$A*0000\n",
        "type": codec.encode_frame("Q", 0x13, b""),
        "overlong": codec.encode_frame("S", 0x14, bytes(40)),
        "garbage": b"\x00\xff\x13junk\n",
    }
    for frame in cases.values():
        s.sendall(frame)
    s.sendall(b"@I00" + codec.encode_frame("H", 0x15))  # truncated frame, then a hello
    # read the raw replies on this socket
    buf = b""
    t0 = time.monotonic()
    while buf.count(b"\n") < len(cases) + 2 and time.monotonic() - t0 < 5:
        s.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            buf += s.recv(65536)
    s.close()
    evs = codec.Decoder().feed(buf)
    acks = [codec.parse_ack(e.payload) for e in evs if isinstance(e, codec.Frame) and e.type == "A"]
    names = [a.name for a in acks]
    assert names[:6] == list(cases), names
    assert acks[0].req == 0x10 and acks[1].req == 0x11
    assert "expected 16 bytes, got 15" in acks[1].message
    assert acks[5].req == codec.NO_REQ and acks[5].message.endswith(": 7")
    assert names[6] == "encoding"  # the truncated frame
    assert any(isinstance(e, codec.Frame) and e.type == "H" for e in evs)


def test_device_survives_random_garbage(device):
    rng = np.random.default_rng(5)
    s = _raw_socket(device.url)
    for _ in range(20):
        s.sendall(rng.integers(0, 256, size=500, dtype=np.uint8).tobytes())
    s.sendall(b"\n")
    time.sleep(0.3)
    s.close()
    with DeviceClient.open(device.url, timeout=3) as c:
        c.hello()
        r = c.infer(bytes(range(16)))
        assert np.frombuffer(r.output, np.int8).tolist() == hostdev.fake_reference(
            np.arange(16, dtype=np.int8)).tolist()


def test_invoke_failure_is_reported(client):
    x = np.array([-128, 127, -128, 127] + [0] * 12, dtype=np.int8).tobytes()
    with pytest.raises(TinymlError, match="invoke"):
        client.infer(x)
    assert client.infer(bytes(16)).output == hostdev.fake_reference(np.zeros(16, np.int8)).tobytes()


def test_wrong_input_length_is_refused_on_the_host(client):
    with pytest.raises(TinymlError, match="input has 15 bytes"):
        client.infer(bytes(15))


# ----------------------------------------------------------------------------- streaming

def test_stream_at_a_rate_then_stop(client):
    client.stream_start(period_us=20_000, count=0)
    t0 = time.monotonic()
    got = [e for e in client.events(1.0) if e.kind == "sample"]
    client.stream_stop()
    elapsed = time.monotonic() - t0
    rate = len(got) / elapsed
    assert 30 <= rate <= 60, rate  # asked for 50/s
    assert [e.data.index for e in got] == list(range(len(got)))
    samples = [e.data.sample for e in got[:6]]
    assert samples == [0, 1, 2, 0, 1, 2]
    for e in got[:3]:
        # the stored samples of the fixture, through the model
        stored = [np.arange(16), 255 - np.arange(16), [100] * 8 + [156] * 8][e.data.sample]
        x = np.asarray(stored, dtype=np.uint8).astype(np.int8)
        assert e.data.output == hostdev.fake_reference(x).tobytes()
    time.sleep(0.1)
    assert not [e for e in client.drain(0.2) if e.kind == "sample" and e.data.index > len(got) + 2]


def test_stream_with_a_count_stops_by_itself(client):
    client.stream_start(period_us=0, count=25)
    got = [e for e in client.events(0.6) if e.kind == "sample"]
    assert len(got) == 25 and client.stats.lost == 0


# ----------------------------------------------------------------------------- MLPerf Tiny

LAP = re.compile(r"^m-lap-us-([0-9]+)$")
RESULTS = re.compile(r"^m-results-\[([^]]+)\]$")
MODEL = re.compile(r"^m-(model|profile)-\[([^]]+)]$")


def test_mlperf_tiny_command_sequence_parses_like_the_runner(client):
    assert client.mlperf("name") == ["m-name-dut-[tinyml]", "m-ready"]
    prof = client.mlperf("profile")
    assert [MODEL.match(x).group(1) for x in prof[:2]] == ["profile", "model"] and prof[-1] == "m-ready"
    x = np.arange(16, dtype=np.uint8)
    assert client.mlperf("db load 16") == ["m-[Expecting 16 bytes]", "m-ready"]
    hexs = x.tobytes().hex()
    assert client.mlperf(f"db {hexs[:20]}") == ["m-ready"]
    assert client.mlperf(f"db {hexs[20:]}") == ["m-load-done", "m-ready"]
    assert client.mlperf("db print")[:2] == ["m-buffer-00-01-02-03-04-05-06-07", "m-buffer-08-09-0a-0b-0c-0d-0e-0f"]
    lines = client.mlperf("infer 20 3")
    assert lines[:3] == ["m-warmup-start-3", "m-warmup-done", "m-infer-start-20"]
    laps = [int(m.group(1)) for m in map(LAP.match, lines) if m]
    assert len(laps) == 2 and laps[1] >= laps[0]
    res = [m.group(1) for m in map(RESULTS.match, lines) if m]
    assert len(res) == 1 and lines[-1] == "m-ready" and "m-infer-done" in lines
    values = [float(v) for v in res[0].split(",")]
    want = (hostdev.fake_reference(x.astype(np.int8)).astype(np.int32) + 10) * 0.0625
    np.testing.assert_allclose(values, want, atol=0.0005)
    assert all(re.fullmatch(r"-?\d+\.\d{3}", v) for v in res[0].split(","))
    assert client.mlperf("results")[0] == f"m-results-[{res[0]}]"
    t = client.mlperf("timestamp")
    assert LAP.match(t[0]) and t[1] == "m-ready"


@pytest.mark.parametrize("cmd,err", [
    ("x" * 100, "e-[command too long (max 80 characters)]"),
    ("frobnicate", "e-[unknown command]"),
    ("db load 17", "e-[db load needs 1..16 bytes]"),
    ("db load abc", "e-[db load needs 1..16 bytes]"),
    ("db 0g", "e-[Invalid hex digit]"),
    ("db 000", "e-[Insufficent number of hex digits]"),
    ("infer 0", "e-[Inference iterations must be >0]"),
    ("infer 1 x", "e-[Inference warmup must be >=0]"),
    ("db", "e-[Command 'db' requires a subcommand]"),
    ("name\x01", "e-[command holds non-printable bytes]"),
])
def test_mlperf_errors_end_with_m_ready_and_the_device_keeps_working(client, cmd, err):
    if cmd.startswith("db 0"):
        client.mlperf("db load 4")
    assert client.mlperf(cmd) == [err, "m-ready"]
    assert client.mlperf("name") == ["m-name-dut-[tinyml]", "m-ready"]


def test_mlperf_infer_needs_a_full_db_buffer(client):
    client.mlperf("db load 16")
    client.mlperf("db 0001")
    assert client.mlperf("infer 1 0") == ["e-[db buffer holds 2 of 16 input bytes]", "m-ready"]


# ----------------------------------------------------------------------------- resets and link test

def test_reset_during_a_run_is_detected_and_the_run_completes(host_exe):
    from tinyml.serial.client import ConnectionLost

    with hostdev.HostDevice(host_exe) as dev:
        c = DeviceClient.open(dev.url, timeout=3)
        c.hello()
        c.infer(bytes(16))
        dev.restart()
        with pytest.raises(ConnectionLost):
            for _ in range(50):
                c.infer(bytes(16))
                time.sleep(0.02)
        c.close()


def test_echo_link_test_returns_the_bytes(client):
    data = bytes(range(256)) * 40
    secs = client.echo(data)
    assert secs > 0
    assert client.hello().model == "fake"  # back to frames afterwards


# ----------------------------------------------------------------------------- binary input frames

def test_binary_and_base64_inputs_give_the_same_results(client):
    assert client.hello_info is not None and client.hello_info.fields.get("bin") == "1"
    # payloads full of the protocol's own special bytes: sync, line ends, MLPerf terminator
    xs = [bytes([0x40, 0x0A, 0x0D, 0x25, 0x2A] * 3 + [0x40]), bytes(range(200, 216)), bytes(16)]
    rng = np.random.default_rng(9)
    xs += [rng.integers(0, 256, 16, dtype=np.uint8).tobytes() for _ in range(50)]
    want = [hostdev.fake_reference(np.frombuffer(x, np.int8)).tobytes() for x in xs]
    client.use_binary = True
    assert [r.output for r in client.infer_many(xs, window=4)] == want
    client.use_binary = False
    assert [r.output for r in client.infer_many(xs, window=4)] == want
    assert client.stats.retries == 0 and client.stats.device_errors == 0


def test_damaged_binary_frames_are_rejected_and_the_next_one_works(device):
    s = _raw_socket(device.url)
    good = codec.encode_binary_frame("J", 0x21, bytes(range(16)))
    flipped = bytearray(codec.encode_binary_frame("J", 0x22, bytes(range(16))))
    flipped[9] ^= 0x10  # a payload byte: only the CRC can tell
    short = codec.encode_binary_frame("J", 0x23, bytes(range(15)))  # one byte lost on the way
    s.sendall(bytes(flipped) + short + b"\n" + good)
    buf = b""
    t0 = time.monotonic()
    while b"@R" not in buf and time.monotonic() - t0 < 5:
        s.settimeout(0.5)
        with contextlib.suppress(TimeoutError):
            buf += s.recv(65536)
    s.close()
    evs = [e for e in codec.Decoder().feed(buf) if isinstance(e, codec.Frame)]
    acks = [codec.parse_ack(e.payload) for e in evs if e.type == "A"]
    assert acks[0].name == "crc" and acks[0].req == 0x22
    assert acks[1].name == "encoding" and acks[1].req == 0x23  # the lost byte shifted the CRC separator
    res = [codec.parse_result(e.payload, 4) for e in evs if e.type == "R"]
    assert len(res) == 1 and res[0].req == 0x21
    assert res[0].output == hostdev.fake_reference(np.arange(16, dtype=np.int8)).tobytes()


# ----------------------------------------------------------------------------- a damaged link

class _DamagingProxy:
    """Forwards a TCP connection to the device, damaging one byte in every ``every`` of one
    direction (deterministic): "corrupt" flips bits, "drop" loses it, "dup" sends it twice."""

    def __init__(self, target_port: int, direction: str, kind: str, every: int):
        import threading

        self.srv = socket.create_server(("127.0.0.1", 0))
        self.url = f"socket://127.0.0.1:{self.srv.getsockname()[1]}"
        self.target_port, self.direction, self.kind, self.every = target_port, direction, kind, every
        self.damaged = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _pump(self, src: socket.socket, dst: socket.socket, damage: bool) -> None:
        n = 0
        src.settimeout(0.1)
        while not self.stop.is_set():
            try:
                data = src.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            out = bytearray()
            for b in data:
                n += 1
                if damage and n % self.every == 0:
                    self.damaged += 1
                    if self.kind == "corrupt":
                        out.append(b ^ 0x5A)
                    elif self.kind == "dup":
                        out += bytes([b, b])
                    # "drop": nothing goes out
                else:
                    out.append(b)
            try:
                dst.sendall(bytes(out))
            except OSError:
                return

    def _run(self) -> None:
        import threading

        self.srv.settimeout(5)
        host, _ = self.srv.accept()
        dev = socket.create_connection(("127.0.0.1", self.target_port))
        up = threading.Thread(target=self._pump, args=(host, dev, self.direction == "up"), daemon=True)
        up.start()
        self._pump(dev, host, self.direction == "down")
        up.join()
        host.close()
        dev.close()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.srv.close()


@pytest.mark.parametrize("binary", [False, True], ids=["base64", "binary"])
@pytest.mark.parametrize("direction,kind", [("up", "corrupt"), ("down", "corrupt"), ("up", "drop"),
                                            ("down", "drop"), ("up", "dup"), ("down", "dup")])
def test_a_damaged_link_never_yields_a_wrong_result(device, direction, kind, binary):
    proxy = _DamagingProxy(device.port, direction, kind, every=397)
    try:
        with DeviceClient.open(proxy.url, timeout=3) as c:
            c.use_binary = binary
            for _ in range(5):
                with contextlib.suppress(TinymlError):
                    c.hello()
                    break
            rng = np.random.default_rng(21)
            xs = rng.integers(-128, 128, size=(400, 16), dtype=np.int8)
            res = c.infer_many([x.tobytes() for x in xs], window=4, retry_after=0.3)
            got = np.stack([np.frombuffer(r.output, np.int8) for r in res])
            np.testing.assert_array_equal(got, np.stack([hostdev.fake_reference(x) for x in xs]))
            assert proxy.damaged > 5
            # every damage was seen and repaired, none silently: retries happened, and at most
            # one per damaged byte on the way in, plus the replies they cost on the way out
            assert 0 < c.stats.retries <= 2 * proxy.damaged + 2, (c.stats, proxy.damaged)
            if direction == "down":
                assert c.stats.corrupt + c.stats.text_lines > 0
            else:
                assert c.stats.device_errors > 0
    finally:
        proxy.close()


def test_a_sensor_hook_feeds_the_stream(tmp_path):
    """User code overrides the weak tinyml_user_sample(): the stream runs on its data, not samples.h."""
    hook = tmp_path / "sensor.c"
    hook.write_text('#include <stdint.h>\n#include "tinyml/runtime.h"\n'
                    "int tinyml_user_sample(uint32_t index, void *input) {\n"
                    "    int8_t *x = (int8_t *)input;\n"
                    "    for (int i = 0; i < 16; i++) x[i] = (int8_t)(index * 7 + i * 3);\n"
                    "    return 1;\n}\n")
    exe = hostdev.build(tmp_path, extra=[str(hook)])
    with hostdev.HostDevice(exe) as dev, DeviceClient.open(dev.url, timeout=3) as c:
        c.hello()
        c.stream_start(period_us=0, count=5)
        got = [e.data for e in c.events(0.5) if e.kind == "sample"]
    assert [s.index for s in got] == list(range(5))
    for s in got:
        x = ((s.index * 7 + np.arange(16) * 3) & 0xFF).astype(np.uint8).astype(np.int8)
        assert s.output == hostdev.fake_reference(x).tobytes()


def test_an_abandoned_echo_test_gives_the_line_back(client):
    seq = client.send("E", (1000).to_bytes(4, "little"))
    client._expect_ack(seq, "echo")
    client.write(b"x" * 10)  # then the host "goes away" for more than a second
    time.sleep(1.3)
    acks = [e.data for e in client.drain(0.5) if e.kind == "ack"]
    assert acks and acks[-1].req == seq and acks[-1].name == "argument" and acks[-1].message.endswith(": 990")
    assert client.hello().model == "fake"
