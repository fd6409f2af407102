"""The fault-injection proxy against a local echo server: clean pass-through, rates near what
was asked, the same damage for the same seed, cuts, and its command line."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import threading
import time

import pytest

from tinyml.testing.faultproxy import DirectionStats, FaultProxy, Faults, _Damage

pytestmark = pytest.mark.unit


@pytest.fixture
def echo_server():
    """A TCP server that sends back what it receives (one connection at a time)."""
    srv = socket.create_server(("127.0.0.1", 0))
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except (TimeoutError, OSError):
                continue
            with conn:
                while True:
                    try:
                        data = conn.recv(4096)
                    except OSError:
                        break
                    if not data:
                        break
                    conn.sendall(data)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield srv.getsockname()[:2]
    stop.set()
    srv.close()
    t.join(2)


def _roundtrip(url_addr: tuple[str, int], payload: bytes, settle: float = 0.3) -> bytes:
    with socket.create_connection(url_addr, timeout=5) as s:
        s.sendall(payload)
        got = bytearray()
        s.settimeout(settle)
        with contextlib.suppress(TimeoutError):
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                got += chunk
    return bytes(got)


def test_no_faults_is_byte_exact(echo_server):
    data = bytes(range(256)) * 200
    with FaultProxy(echo_server) as fx:
        assert _roundtrip(fx.address, data) == data
        assert fx.stats.up.bytes_in == fx.stats.up.bytes_out == len(data)
        assert fx.stats.connections == 1


@pytest.mark.parametrize("kind", ["drop", "corrupt", "duplicate"])
def test_rates_are_close_to_what_was_asked(kind):
    n = 200_000
    st = DirectionStats()
    import random

    pieces = _Damage(Faults(**{kind: 0.01}), random.Random(1), st).apply(bytes(n))
    out = b"".join(p for p in pieces if isinstance(p, bytes))
    count = {"drop": st.dropped, "corrupt": st.corrupted, "duplicate": st.duplicated}[kind]
    assert 0.009 * n < count < 0.011 * n
    assert len(out) == n + (count if kind == "duplicate" else -count if kind == "drop" else 0)
    if kind == "corrupt":
        assert sum(b != 0 for b in out) == count  # every corrupted byte really changed


def test_same_seed_same_damage_whatever_the_chunking():
    import random

    data = bytes(range(256)) * 100
    a = _Damage(Faults(corrupt=0.05, drop=0.01), random.Random("s"), DirectionStats()).apply(data)
    d = _Damage(Faults(corrupt=0.05, drop=0.01), random.Random("s"), DirectionStats())
    b = [p for k in range(0, len(data), 77) for p in d.apply(data[k:k + 77])]
    join = lambda ps: b"".join(p for p in ps if isinstance(p, bytes))  # noqa: E731
    assert join(a) == join(b) != data
    other = _Damage(Faults(corrupt=0.05, drop=0.01), random.Random("t"), DirectionStats()).apply(data)
    assert join(other) != join(a)


def test_delay_pauses_the_stream(echo_server):
    with FaultProxy(echo_server, up=Faults(delay=0.005, delay_s=0.05), seed=4) as fx:
        t0 = time.monotonic()
        got = _roundtrip(fx.address, bytes(2000), settle=0.5)
        elapsed = time.monotonic() - t0
    assert got == bytes(2000)  # delays keep every byte and the order
    assert fx.stats.up.delayed >= 1 and elapsed >= 0.05 * fx.stats.up.delayed


def test_faults_apply_per_direction(echo_server):
    with FaultProxy(echo_server, down=Faults(corrupt=0.2), seed=5) as fx:
        got = _roundtrip(fx.address, bytes(5000))
    assert fx.stats.up.corrupted == 0 and fx.stats.down.corrupted > 0
    assert len(got) == 5000 and got != bytes(5000)


def test_cut_closes_both_sides_and_the_next_connection_works(echo_server):
    with FaultProxy(echo_server) as fx:
        s = socket.create_connection(fx.address, timeout=5)
        s.sendall(b"x")
        assert s.recv(1) == b"x"
        assert fx.cut() == 1 and fx.stats.cuts == 1
        s.settimeout(2)
        assert s.recv(10) == b""  # EOF: the host sees the link go away
        s.close()
        assert _roundtrip(fx.address, b"again") == b"again"
        assert fx.stats.connections == 2


def test_target_down_closes_the_client():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with FaultProxy(("127.0.0.1", free)) as fx, socket.create_connection(fx.address, timeout=5) as s:
        s.settimeout(2)
        assert s.recv(10) == b""


@pytest.mark.parametrize("bad", [{"drop": -0.1}, {"corrupt": 1.5}, {"drop": 0.6, "corrupt": 0.6}, {"delay_s": -1}])
def test_bad_rates_are_refused(bad):
    with pytest.raises(ValueError):
        Faults(**bad)


def _cli(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyml.testing.faultproxy", *args], capture_output=True, text=True,
                          timeout=timeout)


def test_cli_runs_and_reports(echo_server):
    host, port = echo_server
    p = subprocess.Popen([sys.executable, "-m", "tinyml.testing.faultproxy", "--target", f"{host}:{port}",
                          "--corrupt", "0.5", "--direction", "up", "--duration", "3", "--seed", "2"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout is not None
    line = p.stdout.readline()
    assert line.startswith("faultproxy: socket://127.0.0.1:")
    addr = line.split()[1].removeprefix("socket://")
    h, _, pt = addr.rpartition(":")
    got = _roundtrip((h, int(pt)), bytes(1000))
    out, err = p.communicate(timeout=30)
    assert p.returncode == 0, err
    assert len(got) == 1000 and got != bytes(1000)
    assert '"corrupted"' in out


@pytest.mark.parametrize("args, message", [
    (["--target", "nowhere"], "is not HOST:PORT"),
    (["--target", "127.0.0.1:1", "--drop", "2"], "not a probability"),
    (["--target", "127.0.0.1:1", "--drop", "0.7", "--corrupt", "0.7"], "sum to at most 1"),
    ([], "--target"),
])
def test_cli_errors_are_one_line(args, message):
    r = _cli(*args)
    assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr


def test_cli_listen_port_taken(echo_server):
    host, port = echo_server
    r = _cli("--listen", f"{host}:{port}", "--target", f"{host}:{port}")
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr
