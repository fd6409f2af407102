"""The virtual Arduino Uno end to end: generate (aot, weights in PROGMEM) -> PlatformIO build with the
real Arduino AVR core -> flash (the tinyml-simavr upload starts the libsimavr UART bridge) -> the
tinyml runtime answers over socket://, and what the simulated ATmega328P computes equals the TFLM
host interpreter: host-driven inferences, streamed stored samples, `tinyml validate`, the MLPerf
Tiny text commands. Then the RAM the firmware really used (the bridge's stack paint) and stop."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml.model.reference import quantize_input, run_reference
from tinyml.model.tflite import load

ARDUINO_CORE = Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h")

pytestmark = [
    pytest.mark.emulator, pytest.mark.slow,
    pytest.mark.skipif(shutil.which("avr-gcc") is None or shutil.which("gcc") is None
                       or not Path("/usr/include/simavr/sim_avr.h").is_file() or not ARDUINO_CORE.is_file(),
                       reason="needs avr-gcc, arduino-core-avr, gcc and libsimavr-dev"),
]


@pytest.fixture(scope="module")
def uno(zoo, tmp_path_factory):
    """The sine project flashed onto a running virtual Uno (stopped by the last test, or here)."""
    env = {**os.environ, "TINYML_CACHE": str(tmp_path_factory.mktemp("tinyml-cache"))}
    out = tmp_path_factory.mktemp("uno-sim") / "sine"

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True, env=env,
                              timeout=600)

    r = cli("generate", str(zoo["sine"]), "--board", "uno-sim", "-o", str(out), "--samples", str(zoo["sine_val"]))
    assert r.returncode == 0, r.stderr
    r = cli("flash", str(out), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    yield {"project": out, "url": info["port"], "pid": info["pid"], "cli": cli, "info": info}
    cli("stop", str(out))


def _client(url: str):
    from tinyml.serial.client import DeviceClient

    return DeviceClient.open(url, timeout=20.0)


def _reference(zoo, n: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    model = load(zoo["sine"])
    tin = model.input_tensors()[0]
    x = np.load(zoo["sine_val"])["x"][:n]
    xq = quantize_input(x.reshape((len(x), *tin.shape[1:])), tin)
    return xq, run_reference(model.raw, xq).reshape(len(xq), -1)


def test_flash_reports_the_bridge_and_its_state(uno):
    project = uno["project"]
    assert uno["info"]["board"] == "uno-sim" and uno["info"]["virtual"] is True
    assert "simavr-uart-bridge" in Path(uno["info"]["command"][0]).name
    assert (project / ".tinyml" / "port").read_text().strip() == uno["url"]
    state = json.loads((project / ".tinyml" / "simavr.json").read_text())
    assert (state["pid"], state["url"], state["machine"]) == (uno["pid"], uno["url"], "atmega328p")
    log = (project / ".tinyml" / "simavr.log").read_text()
    assert "receive flow control: sketch credit" in log  # the port's tinyml_sim_rx_taken was found
    # the real Arduino core was linked: its HardwareSerial object and main() are in the ELF
    nm = subprocess.run(["avr-nm", "-C", state["elf"]], capture_output=True, text=True, check=True).stdout
    assert re.search(r" [bBdD] Serial$", nm, re.M) and re.search(r" T main$", nm, re.M)


def test_generate_predicted_the_firmware_flash(uno, check_flash_prediction):
    check_flash_prediction(uno["project"], "avr")


def test_inferences_are_bit_exact_with_tflm(uno, zoo):
    model = load(zoo["sine"])
    xq, want = _reference(zoo)
    with _client(uno["url"]) as dev:
        hello = dev.hello()
        assert (hello.sha256, hello.engine, hello.board, hello.init_ok) == (model.sha256, "aot", "uno-sim", True)
        results = dev.infer_many([s.tobytes() for s in xq], window=4)
    got = np.stack([np.frombuffer(r.output, dtype=np.int8) for r in results])
    assert got.shape == want.shape == (len(xq), 1)
    assert np.array_equal(got, want), f"{np.count_nonzero(got != want)} of {got.size} values differ"
    # micros() of the simulated 16 MHz AVR: a few ms for the three FULLY_CONNECTED layers
    assert all(500 < r.us < 50_000 for r in results)
    assert dev.stats.corrupt == dev.stats.lost == 0


def test_streamed_progmem_samples_are_bit_exact(uno, zoo):
    """The device runs its stored samples (samples.h in flash, read with memcpy_P) on its own."""
    manifest = json.loads((uno["project"] / "tinyml.json").read_text())
    n = manifest["samples"]["count"]
    assert n == 16  # AVR keeps at most 16 samples in flash
    _, want = _reference(zoo, n)
    got: dict[int, tuple[int, np.ndarray]] = {}
    with _client(uno["url"]) as dev:
        dev.hello()
        dev.stream_start(period_us=0, count=2 * n)  # wraps around the stored samples once
        deadline = time.monotonic() + 30
        while len(got) < 2 * n and time.monotonic() < deadline:
            for ev in dev.poll(0.2):
                assert ev.kind not in ("corrupt", "lost", "reset"), ev
                if ev.kind == "sample":
                    got[ev.data.index] = (ev.data.sample, np.frombuffer(ev.data.output, dtype=np.int8))
    assert sorted(got) == list(range(2 * n))
    for index, (sample, out) in got.items():
        assert sample == index % n
        assert np.array_equal(out, want[sample]), f"stream index {index} (sample {sample})"


def _hello_burst(url: str, n: int = 40) -> tuple[list[int], list[str]]:
    """``n`` hello requests in one write; the request numbers answered and any other event kinds."""
    from tinyml.serial import codec

    answered: list[int] = []
    other: list[str] = []
    with _client(url) as dev:
        dev.hello()
        seqs = [dev.next_seq() for _ in range(n)]
        burst = b"".join(codec.encode_frame(codec.HELLO, s) for s in seqs)
        assert len(burst) > 7 * 64
        dev.write(burst)
        for ev in dev.events(duration=4.0):
            if ev.kind == "hello":
                answered.append(ev.data.req)
            else:
                other.append(ev.kind)
            if len(answered) == n:
                break
    return answered, other


def test_a_burst_beyond_the_64_byte_rx_buffer_loses_nothing(uno):
    """40 hello requests in one write (~480 bytes): each ~250-byte reply takes ~20x longer on the
    115200-baud line than its request, so a real Uno's 64-byte receive buffer overflows; the
    bridge's credit flow control (tinyml_sim_rx_taken) must deliver every byte."""
    answered, other = _hello_burst(uno["url"])
    assert other == []  # no error ack: nothing was dropped or mangled
    assert answered == sorted(answered) and len(answered) == 40


def test_without_the_credit_the_burst_overflows_like_a_real_uno(uno):
    """The same burst on a second bridge started with --no-credit (plain UART flow control): the
    sketch's ring buffer drops bytes, the runtime reports broken frames. This is what the credit
    prevents, and why hosts talking to a real Uno keep at most 63 bytes in flight."""
    proc, url = _second_bridge(uno, "--no-credit")
    try:
        answered, other = _hello_burst(url)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert len(answered) < 40 and "ack" in other


def _second_bridge(uno, *flags: str) -> tuple[subprocess.Popen[str], str]:
    """Another bridge on the same firmware, on a free port (the flashed one keeps running)."""
    state = json.loads((uno["project"] / ".tinyml" / "simavr.json").read_text())
    proc = subprocess.Popen([state["argv"][0], state["elf"], "--port", "0", *flags], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    assert proc.stdout is not None
    line = ""
    while not line.startswith("listening on"):
        line = proc.stdout.readline()
        assert line, "the bridge exited before listening"
    return proc, "socket://" + line.split()[-1]


def test_realtime_never_runs_ahead_of_the_clock(uno):
    """--realtime: a busy AVR (MLPerf `infer 200 0`: ~1 s of back-to-back inferences, no sleep) takes
    at least its simulated time on the wall clock. Free-running, an idle host runs it several times
    faster (a loaded one about as fast as real time)."""
    proc, url = _second_bridge(uno, "--realtime")
    try:
        with _client(url) as dev:
            dev.hello()
            dev.mlperf("db load 1")
            dev.mlperf("db 80")
            t0 = time.monotonic()
            lines = dev.mlperf("infer 200 0")
            wall = time.monotonic() - t0
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    laps = [int(m.group(1)) for m in (re.match(r"m-lap-us-(\d+)", ln) for ln in lines) if m]
    sim = (laps[1] - laps[0]) / 1e6
    assert 0.5 < sim < 2.0  # 200 sine inferences of ~5 ms
    assert wall >= sim - 0.01, (sim, wall)


def test_mlperf_commands_on_the_uno(uno, zoo):
    xq, want = _reference(zoo, 1)
    model = load(zoo["sine"])
    out = model.output_tensors()[0]
    expect = (int(want[0, 0]) - out.zero_point) * float(out.scale)
    with _client(uno["url"]) as dev:
        dev.hello()
        assert "m-name-dut-[tinyml]" in dev.mlperf("name")
        assert "m-[Expecting 1 bytes]" in dev.mlperf("db load 1")
        assert "m-load-done" in dev.mlperf(f"db {int(xq[0, 0]) & 0xFF:02x}")
        lines = dev.mlperf("infer 5 1")
    laps = [int(m.group(1)) for m in (re.match(r"m-lap-us-(\d+)", ln) for ln in lines) if m]
    assert len(laps) == 2 and laps[1] > laps[0]
    res = [ln for ln in lines if ln.startswith("m-results-[")]
    assert len(res) == 1
    assert abs(float(res[0][len("m-results-["):-1]) - expect) < 0.0015  # %0.3f of the dequantized output


def test_validate_cli_is_bit_exact(uno, zoo, tmp_path):
    r = uno["cli"]("validate", str(uno["project"]), "--data", str(zoo["sine_val"]), "--json", "-",
                   "--require-exact", "--window", "4")
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout[r.stdout.index("{"):])
    assert report["device"]["board"] == "uno-sim"
    metrics = report["metrics"]
    assert metrics["samples"] == metrics["bit_exact"] == 200 and metrics["max_abs_diff_q"] == 0
    assert report["link"]["corrupt"] == report["link"]["lost"] == report["link"]["retries"] == 0


def test_ram_high_water_and_stop(uno):
    """Last: the bridge's RAM report (static data + the stack's high-water mark after everything
    above ran) fits the Uno's 2 KB, then `tinyml stop` ends the bridge and frees the port."""
    project, pid = uno["project"], uno["pid"]
    os.kill(pid, signal.SIGUSR1)
    log = project / ".tinyml" / "simavr.log"
    deadline = time.monotonic() + 5
    while "ram: static" not in log.read_text() and time.monotonic() < deadline:
        time.sleep(0.05)
    m = re.search(r"ram: static (\d+) B \(data\+bss\), stack peak (\d+) B, never touched (\d+) B, of (\d+) B",
                  log.read_text())
    assert m, log.read_text()
    static, stack, free, total = map(int, m.groups())
    elf = json.loads((project / ".tinyml" / "simavr.json").read_text())["elf"]
    size = subprocess.run(["avr-size", "-A", "-d", elf], capture_output=True, text=True, check=True).stdout
    sections = {k: int(v) for k, v in re.findall(r"^\.(data|bss)\s+(\d+)", size, re.M)}
    assert static == sections["data"] + sections["bss"]
    assert total == 2048 and static + stack + free == total
    assert stack > 50 and static + stack < 1024  # the sine firmware uses about a third of the SRAM

    r = uno["cli"]("stop", str(project))
    assert r.returncode == 0 and f"pid {pid}" in r.stdout, r.stdout + r.stderr
    for _ in range(50):
        if not Path(f"/proc/{pid}").exists():
            break
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()
    port = int(uno["url"].rsplit(":", 1)[1])
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        pass
    assert not (project / ".tinyml" / "port").exists()
    assert "stack peak" in log.read_text().rsplit("stopped by a signal", 1)[-1]  # reported again on exit

