"""Opening ports: missing ports, silent devices, auto-detection by USB id, the project's port file."""

from __future__ import annotations

import socket
import threading
import time
from types import SimpleNamespace

import pytest

from tinyml.errors import ErrorKind, TinymlError
from tinyml.serial import ports
from tinyml.serial.client import DeviceClient

pytestmark = pytest.mark.unit


def _free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_a_device_path_that_does_not_exist_is_a_device_error():
    with pytest.raises(TinymlError) as ei:
        ports.open_port("/dev/tinyml-no-such-port")
    assert ei.value.kind == ErrorKind.DEVICE
    assert "/dev/tinyml-no-such-port" in ei.value.message


def test_a_socket_nobody_listens_on_is_a_device_error_with_a_hint():
    with pytest.raises(TinymlError) as ei:
        ports.open_port(f"socket://127.0.0.1:{_free_port()}")
    assert ei.value.kind == ErrorKind.DEVICE
    assert "tinyml flash" in (ei.value.hint or "")


@pytest.fixture
def silent_device():
    """A TCP 'device' that accepts and never says a word."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    conns = []
    stop = threading.Event()

    def serve():
        srv.settimeout(0.1)
        while not stop.is_set():
            try:
                c, _ = srv.accept()
                conns.append(c)
            except OSError:
                pass

    th = threading.Thread(target=serve, daemon=True)
    th.start()
    yield f"socket://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    th.join()
    for c in conns:
        c.close()
    srv.close()


def test_a_device_that_never_answers_times_out_with_a_clear_message(silent_device):
    t0 = time.monotonic()
    with DeviceClient.open(silent_device, timeout=1.0) as client, pytest.raises(TinymlError) as ei:
        client.hello()
    assert time.monotonic() - t0 < 5
    assert ei.value.kind == ErrorKind.DEVICE
    assert "did not answer" in ei.value.message


def test_cli_monitor_on_a_missing_port_exits_8_without_traceback(run_cli):
    r = run_cli("monitor", "--port", "/dev/tinyml-no-such-port", "--count", "1", timeout=60)
    assert r.returncode == 8, r.stderr
    assert r.stderr.startswith("error: cannot open serial port /dev/tinyml-no-such-port")
    assert "Traceback" not in r.stderr


def test_cli_monitor_on_a_silent_device_exits_8(run_cli, silent_device):
    r = run_cli("monitor", "--port", silent_device, "--count", "1", timeout=60)
    assert r.returncode == 8, r.stderr
    assert "did not answer" in r.stderr and "Traceback" not in r.stderr


def _fake_comports(monkeypatch, entries):
    from serial.tools import list_ports

    monkeypatch.setattr(list_ports, "comports",
                        lambda: [SimpleNamespace(device=d, vid=v, pid=p, description="usb serial")
                                 for d, v, p in entries])


def test_autodetect_picks_the_one_matching_board(monkeypatch):
    # uno.toml / esp32dev.toml list these USB ids; an unrelated device is ignored
    from tinyml.boards import get_board

    vid, pid = (int(x, 16) for x in get_board("esp32dev").usb_ids[0].split(":"))
    _fake_comports(monkeypatch, [("/dev/ttyUSB7", vid, pid), ("/dev/ttyS0", None, None), ("/dev/ttyX", 1, 2)])
    assert ports.autodetect("esp32dev") == "/dev/ttyUSB7"


def test_autodetect_lists_candidates_when_several_match(monkeypatch):
    from tinyml.boards import get_board

    vid, pid = (int(x, 16) for x in get_board("esp32dev").usb_ids[0].split(":"))
    _fake_comports(monkeypatch, [("/dev/ttyUSB0", vid, pid), ("/dev/ttyUSB1", vid, pid)])
    with pytest.raises(TinymlError) as ei:
        ports.autodetect(None)
    assert "/dev/ttyUSB0" in ei.value.message and "/dev/ttyUSB1" in ei.value.message
    assert ei.value.kind == ErrorKind.DEVICE


def test_autodetect_with_nothing_plugged_in(monkeypatch):
    _fake_comports(monkeypatch, [])
    with pytest.raises(TinymlError) as ei:
        ports.autodetect("uno")
    assert "--port" in (ei.value.hint or "")


def test_resolve_port_prefers_option_then_project_file(tmp_path, monkeypatch):
    _fake_comports(monkeypatch, [])
    (tmp_path / ".tinyml").mkdir()
    (tmp_path / ".tinyml" / "port").write_text("socket://127.0.0.1:4321\n")
    assert ports.resolve_port(tmp_path, None) == "socket://127.0.0.1:4321"
    assert ports.resolve_port(tmp_path, "/dev/ttyACM0") == "/dev/ttyACM0"
    with pytest.raises(TinymlError) as ei:
        ports.resolve_port(tmp_path / "missing", None)
    assert ei.value.kind == ErrorKind.INPUT
