"""Reliability of the link and the device on virtual boards, with figures (docs/reliability.md).

- soak: N results streamed back to back from the sine model on qemu-lm3s6965evb (PL011, the
  fastest UART model): none lost, none corrupt, each equal to the TFLM host interpreter;
- the same stream through the fault proxy at 1 % byte corruption and 0.1 % byte drop: every
  damaged result is detected (missing index, counted), none accepted wrong;
- host-driven inferences through the proxy with faults both ways: damaged requests and replies
  are retried until every input has a checked result, none wrong;
- the connection cut mid-stream (reconnect: same device session) and the board reset mid-run
  (reconnect: reset detected), then business as usual;
- two virtual boards driven at once from one test session;
- the device-side parser fed random command lines: it answers each batch with errors and still
  computes correct results.

Counts: TINYML_SOAK_COUNT (default 10,000: about 7 s),
TINYML_FAULT_COUNT (default 2000). TINYML_RELIABILITY_JSON=FILE appends each test's figures.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from tinyml.errors import TinymlError
from tinyml.serial import codec
from tinyml.testing.dut import Dut
from tinyml.testing.faultproxy import FaultProxy, Faults

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]

SOAK = int(os.environ.get("TINYML_SOAK_COUNT", "10000"))  # about 7 s on QEMU
FAULTS = int(os.environ.get("TINYML_FAULT_COUNT", "2000"))
NOISY = Faults(corrupt=0.01, drop=0.001)


def _figures(name: str, **values: object) -> None:
    """Figures for docs/reliability.md, when asked for."""
    out = os.environ.get("TINYML_RELIABILITY_JSON")
    if out:
        with open(out, "a", encoding="utf-8") as f:
            f.write(json.dumps({"test": name, **values}) + "\n")


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict[str, str]:
    return {"TINYML_CACHE": os.environ.get("TINYML_CACHE") or str(tmp_path_factory.mktemp("tinyml-cache"))}


def _board(model: Path, board: str, out: Path, env: dict[str, str]) -> tuple[Path, str]:
    r = _cli(env, "generate", str(model), "--board", board, "-o", str(out))
    assert r.returncode == 0, r.stderr
    r = _cli(env, "flash", str(out), "--json")
    assert r.returncode == 0, r.stderr
    return out, json.loads(r.stdout)["port"]


@pytest.fixture(scope="module")
def sine_lm3s(zoo, cache_env, tmp_path_factory):
    proj, url = _board(zoo["sine"], "qemu-lm3s6965evb", tmp_path_factory.mktemp("sine-lm3s") / "p", cache_env)
    old = os.environ.get("TINYML_CACHE")
    os.environ["TINYML_CACHE"] = cache_env["TINYML_CACHE"]  # restart_board() flashes in this process
    yield proj, url
    if old is None:
        os.environ.pop("TINYML_CACHE", None)
    else:
        os.environ["TINYML_CACHE"] = old
    _cli(cache_env, "stop", str(proj))


def _url(proj: Path) -> str:
    """The board's current port (a restart may have moved it)."""
    return (proj / ".tinyml" / "port").read_text(encoding="utf-8").strip()


def _restart(proj: Path):
    def again() -> str:
        from tinyml.build.flash import flash

        return flash(proj).port
    return again


@pytest.fixture(scope="module")
def sine_ref(sine_lm3s) -> dict[str, np.ndarray]:
    proj, url = sine_lm3s[0], _url(sine_lm3s[0])
    with Dut.open(url, project=proj, timeout=20) as d:
        stored = d.stored_samples()
        return {"stored": stored, "stored_out": d.reference_many(list(stored))}


def _check_stream(run, ref) -> int:
    """How many accepted results differ from the reference (must be 0)."""
    want = ref["stored_out"]
    return sum(np.frombuffer(s.output, np.int8).tolist() != want[s.sample].tolist()
               or s.sample != s.index % len(want) for s in run.samples)


def test_soak_stream_nothing_lost_nothing_wrong(sine_lm3s, sine_ref):
    proj, url = sine_lm3s[0], _url(sine_lm3s[0])
    with Dut.open(url, project=proj, timeout=20) as d:
        t0 = time.monotonic()
        run = d.stream(SOAK)
        elapsed = time.monotonic() - t0
        stats = d.link_stats
    wrong = _check_stream(run, sine_ref)
    _figures("soak", sent=SOAK, received=run.received, lost=len(run.missing), corrupt=run.corrupt,
             undetected_wrong=wrong, seconds=round(elapsed, 1), per_s=round(SOAK / elapsed), link=stats)
    assert run.received == SOAK and not run.missing and run.corrupt == 0
    assert wrong == 0
    assert stats["lost"] == 0 and stats["corrupt"] == 0 and stats["resets"] == 0


def test_stream_through_faults_every_damaged_result_is_detected(sine_lm3s, sine_ref):
    proj, url = sine_lm3s[0], _url(sine_lm3s[0])
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    with FaultProxy((host, int(port)), seed=7) as fx, Dut.open(fx.url, project=proj, timeout=20) as d:
        fx.set_faults(down=NOISY)  # the hello went through clean; the results do not
        run = d.stream(FAULTS, timeout=3)
        fx.set_faults(down=Faults())
        d.client.drain(0.3)
        stats = d.link_stats
        injected = fx.stats.down.to_dict()
    wrong = _check_stream(run, sine_ref)
    _figures("stream-faults", sent=FAULTS, accepted=run.received, detected_missing=len(run.missing),
             corrupt_lines=run.corrupt, seq_lost=stats["lost"], undetected_wrong=wrong, injected=injected)
    assert injected["corrupted"] > 0 and injected["dropped"] > 0
    assert wrong == 0, "a damaged result was accepted"
    assert run.received + len(run.missing) == FAULTS
    assert 0 < len(run.missing) < FAULTS
    # the sequence numbers saw each missing result (all but possibly a damaged last one)
    assert len(run.missing) - 1 <= stats["lost"] <= len(run.missing)
    assert run.corrupt > 0


def test_requests_through_faults_both_ways_are_retried_never_wrong(sine_lm3s):
    proj, url = sine_lm3s[0], _url(sine_lm3s[0])
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    xs = list(np.random.default_rng(3).uniform(0, 2 * np.pi, (FAULTS // 2, 1)).astype(np.float32))
    with FaultProxy((host, int(port)), seed=11) as fx, Dut.open(fx.url, project=proj, timeout=20) as d:
        want = d.reference_many(xs)
        fx.set_faults(up=NOISY, down=NOISY)
        t0 = time.monotonic()
        res = d.infer_many(xs, retries=12, retry_after=0.3)
        elapsed = time.monotonic() - t0
        fx.set_faults(up=Faults(), down=Faults())
        stats = d.link_stats
        injected = fx.stats.to_dict()
    got = np.stack([r.output for r in res])
    wrong = int(np.sum(np.any(got != want, axis=1)))
    _figures("request-faults", sent=len(xs), accepted=len(res), retries=stats["retries"],
             device_errors=stats["device_errors"], corrupt_lines=stats["corrupt"], seq_lost=stats["lost"],
             batch_resends=d.stats.retried_batches, undetected_wrong=wrong, seconds=round(elapsed, 1),
             injected=injected)
    assert len(res) == len(xs) and wrong == 0
    assert stats["retries"] > 0 and stats["device_errors"] > 0 and stats["corrupt"] > 0
    assert injected["up"]["corrupted"] > 0 and injected["down"]["corrupted"] > 0


def test_connection_cut_mid_stream_then_reconnect(sine_lm3s, sine_ref):
    proj, url = sine_lm3s[0], _url(sine_lm3s[0])
    host, port = url.removeprefix("socket://").rsplit(":", 1)
    with FaultProxy((host, int(port)), seed=1) as fx, Dut.open(fx.url, project=proj, timeout=20) as d:
        uptime0 = d.banner.uptime_us
        seen: list[int] = []

        def cut_after_100(s: codec.StreamSample) -> None:
            seen.append(s.index)
            if len(seen) == 100:
                fx.cut()

        with pytest.raises(TinymlError, match="lost the connection"):
            d.stream(100_000, on_sample=cut_after_100)
        assert fx.stats.cuts == 1
        reset = d.reconnect(timeout=20)
        assert reset is False and d.banner.uptime_us > uptime0  # the same device session
        d.client.stream_stop()  # the device kept streaming while nobody listened
        d.client.drain(0.3)
        xs = list(sine_ref["stored"][:8])
        res = d.infer_many(xs)
        assert np.array_equal(np.stack([r.output for r in res]), sine_ref["stored_out"][:8])
        run = d.stream(200)
        assert not run.missing and _check_stream(run, sine_ref) == 0
    _figures("cut", results_before_cut=len(seen), reconnects=1, reset_detected=reset)


def test_board_reset_mid_run_is_detected_and_recovered(sine_lm3s, sine_ref):
    proj, url = sine_lm3s[0], _url(sine_lm3s[0])
    d = Dut.open(url, project=proj, timeout=20, restart=_restart(proj))
    try:
        before = d.stream(300)
        assert not before.missing
        uptime = d.banner.uptime_us
        d.client.stream_start(0, 0)  # streaming when the reset hits
        time.sleep(0.2)
        reset = d.restart_board()  # the emulator is restarted: a power cycle
        assert reset is True and d.banner.uptime_us < uptime
        run = d.stream(300)
        assert not run.missing and _check_stream(run, sine_ref) == 0
        res = d.infer_many(list(sine_ref["stored"]))
        assert np.array_equal(np.stack([r.output for r in res]), sine_ref["stored_out"])
    finally:
        d.close()
    _figures("reset", reset_detected=reset)


def test_two_virtual_boards_driven_at_once(zoo, cache_env, sine_lm3s, sine_ref, tmp_path):
    proj2, url2 = _board(zoo["sine"], "qemu-mps2-an386", tmp_path / "mps2", cache_env)
    try:
        boards = [Dut.open(_url(sine_lm3s[0]), project=sine_lm3s[0], timeout=20),
                  Dut.open(url2, project=proj2, timeout=20)]
        assert {b.banner.board for b in boards} == {"qemu-lm3s6965evb", "qemu-mps2-an386"}
        spans: dict[str, tuple[float, float]] = {}
        runs: dict[str, object] = {}
        errors: list[BaseException] = []

        def drive(d: Dut) -> None:
            try:
                t0 = time.monotonic()
                runs[d.banner.board] = d.stream(1500)
                spans[d.banner.board] = (t0, time.monotonic())
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                errors.append(exc)

        threads = [threading.Thread(target=drive, args=(b,)) for b in boards]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        for b in boards:
            b.close()
        assert not errors, errors
        (a0, a1), (b0, b1) = spans.values()
        assert a0 < b1 and b0 < a1, "the two streams did not overlap"
        for run in runs.values():
            assert not run.missing and _check_stream(run, sine_ref) == 0  # type: ignore[attr-defined]
    finally:
        _cli(cache_env, "stop", str(proj2))


# ----------------------------------------------------------------------------- device-side parser fuzz

MLPERF_WORDS = ["name", "profile", "timestamp", "db", "load", "print", "infer", "results", "x", "%", "-1", "0",
                "1", "2", "64", "999", "ff", "zz", "m-ready", "e-[x]"]


def _random_line(rng: random.Random, nbytes: int) -> bytes:
    kind = rng.randrange(6)
    if kind == 0:  # raw random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 120))) + b"\n"
    if kind == 1:  # MLPerf-like commands from real and bogus words (small counts: 'infer' must stay quick)
        return " ".join(rng.choice(MLPERF_WORDS) for _ in range(rng.randrange(1, 5))).encode() + b"%"
    if kind == 2:  # a valid frame, then damaged
        f = bytearray(codec.encode_frame(rng.choice("HIJXSA"), rng.randrange(65536), rng.randbytes(nbytes)))
        for _ in range(rng.randrange(1, 4)):
            f[rng.randrange(1, len(f) - 1)] = rng.randrange(256)
        return bytes(f)
    if kind == 3:  # a frame with a good CRC but an unknown type or a payload of the wrong size
        t = rng.choice("BCDFGKLMNOPQUVWYZabc")
        return codec.encode_frame(t, rng.randrange(65536), rng.randbytes(rng.randrange(0, 40)))
    if kind == 4:
        return codec.encode_frame(rng.choice("IXH"), rng.randrange(65536), rng.randbytes(rng.randrange(0, 90)))
    # printable junk ending in a line end or a sync character
    return bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 100))) + rng.choice([b"\r\n", b"@", b"\n"])


def test_device_parser_survives_random_command_lines(sine_lm3s, sine_ref):
    proj, url = sine_lm3s[0], _url(sine_lm3s[0])
    rng = random.Random(2026)
    batches, per_batch = int(os.environ.get("TINYML_DEVICE_FUZZ_BATCHES", "40")), 25
    answered = sent = checks = 0
    with Dut.open(url, project=proj, timeout=20) as d:
        nbytes = d.banner.input.nbytes
        for b in range(batches):
            lines = [_random_line(rng, nbytes) for _ in range(per_batch)]
            for line in lines:
                d.write(line)
            d.write(b"\n")  # end whatever the last line left open
            sent += len(lines)
            evs = d.client.drain(0.3)
            replies = [e for e in evs if e.kind in ("ack", "result", "hello")
                       or (e.kind == "text" and e.data.startswith(("e-", "m-")))]
            assert replies, f"batch {b}: the device said nothing to {len(lines)} lines"
            answered += len(replies)
            assert not any(e.kind == "reset" for e in evs), f"batch {b} reset the device"
            # still working: a checked inference on a stored sample
            k = b % len(sine_ref["stored"])
            r = d.infer(sine_ref["stored"][k])
            assert r.output.tolist() == sine_ref["stored_out"][k].tolist(), b
            checks += 1
        assert d.client.stats.resets == 0
    _figures("device-fuzz", lines=sent, replies=answered, inference_checks=checks, resets=0)
