"""A first user's bad input, command by command: one-line error + hint, the right exit code, no traceback.

Found by QA (following the READMEs, then feeding every command wrong things); cases already covered
elsewhere (missing/corrupt/float/hybrid/uint8 models, unknown board, engine the board lacks, missing
port, offline build, missing or read-only output directory) are not repeated here.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from test_inspect_models import GraphBuilder, fc_model

from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError

pytestmark = pytest.mark.unit


def _custom_op_model(opcode: str = "CUSTOM:MyInt8Op") -> bytes:
    """A valid int8 model whose one op neither TFLM nor the aot engine has."""
    g = GraphBuilder()
    x = g.tensor([1, 4], scale=0.1)
    y = g.tensor([1, 4], scale=0.1)
    g.op(opcode, [x], [y])
    return g.build([x], [y])


@pytest.fixture
def silent_device() -> Iterator[str]:
    """A TCP 'device' that accepts connections and never sends a byte."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)
    stop = threading.Event()
    conns: list[socket.socket] = []

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(OSError):
                conns.append(srv.accept()[0])

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"socket://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join(2)
    for c in conns:
        c.close()
    srv.close()


def _clean(r: subprocess.CompletedProcess[str], kind: ErrorKind) -> None:
    assert r.returncode == EXIT_CODES[kind], (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    assert r.stderr.startswith("error: ") and "\nhint: " in r.stderr, r.stderr


def test_op_neither_engine_has_is_named_by_run(run_cli, tmp_path):
    # before: "allocation failed even with a 1073741824 B arena" after TFLM tried a 1 GB arena
    (tmp_path / "m.tflite").write_bytes(_custom_op_model())
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.int8))
    r = run_cli("run", "m.tflite", "--input", "x.npy")
    _clean(r, ErrorKind.UNSUPPORTED)
    assert "no kernel for: CUSTOM:MyInt8Op" in r.stderr and "allocation failed" not in r.stderr


@pytest.mark.parametrize("args", [["run", "m.tflite", "--input", "x.npy", "--engine", "aot"],
                                  ["generate", "m.tflite", "--board", "qemu-mps2-an386", "-o", "fw"]])
def test_aot_does_not_send_the_user_to_tflm_for_an_op_tflm_lacks(run_cli, tmp_path, args):
    # before: hint "use --engine tflm", which fails the same way (and QEMU boards have no tflm)
    (tmp_path / "m.tflite").write_bytes(_custom_op_model("HASHTABLE_LOOKUP"))
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.int8))
    r = run_cli(*args)
    _clean(r, ErrorKind.UNSUPPORTED)
    assert "HASHTABLE_LOOKUP" in r.stderr and "use --engine tflm" not in r.stderr
    assert "TFLite Micro has no HASHTABLE_LOOKUP kernel either" in r.stderr
    assert not (tmp_path / "fw").exists()  # nothing half-written


def test_aot_still_suggests_tflm_when_tflm_has_the_op():
    from tinyml.codegen.aot.planner import unsupported
    from tinyml.model.tflite import parse

    model = parse(_custom_op_model("SPACE_TO_DEPTH"))
    assert unsupported(model, model.operators[0], "x").hint == "use --engine tflm"


@pytest.mark.parametrize("payload", [bytes(range(256)) * 8, b"TFL3" + b"\0" * 100, b""])
def test_data_that_is_not_numpy_says_so_without_pickle_talk(run_cli, tmp_path, payload):
    # before: "(This file contains pickled (object) data. If you trust the file ... allow_pickle= keywo)"
    (tmp_path / "m.tflite").write_bytes(fc_model(4, 2))
    (tmp_path / "x.npy").write_bytes(payload)
    r = run_cli("run", "m.tflite", "--input", "x.npy")
    _clean(r, ErrorKind.INPUT)
    assert "pickle" not in r.stderr, r.stderr
    if payload:
        assert "no numpy header" in r.stderr


def test_silent_device_hello_error_gives_the_total_wait(silent_device):
    from tinyml.serial.client import DeviceClient

    # before: "did not answer the hello request within 0.4 s" after 1.2 s of 3 tries
    with DeviceClient.open(silent_device, timeout=1.2) as client, pytest.raises(TinymlError) as ei:
        client.hello()
    assert ei.value.kind is ErrorKind.DEVICE
    assert "did not answer the hello request (3 tries in 1." in ei.value.message, ei.value.message


def test_ctrl_c_during_a_command_says_interrupted(tmp_path, silent_device):
    # before: Typer turned KeyboardInterrupt into a silent exit 130 (no word on stderr)
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "model.tflite").write_bytes(fc_model(4, 2))
    np.savez(tmp_path / "val.npz", x=np.zeros((4, 4), np.int8))
    p = subprocess.Popen([sys.executable, "-m", "tinyml", "validate", str(proj), "--data", str(tmp_path / "val.npz"),
                          "--port", silent_device, "--timeout", "30"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(3.0)  # past start-up and into the wait for the device
    assert p.poll() is None, p.communicate()
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=30)
    assert p.returncode == 130, (out, err)
    assert "interrupted" in err and "Traceback" not in err, err


def test_offline_message_is_grammatical_for_one_package(monkeypatch, tmp_path):
    from tinyml.build import pio

    monkeypatch.setattr(pio, "missing_dependencies", lambda project: ["platform espressif32"])
    monkeypatch.setattr(pio, "registry_reachable", lambda *a, **k: False)
    with pytest.raises(TinymlError) as ei:
        pio.check_installed(tmp_path)
    assert ei.value.kind is ErrorKind.OFFLINE and "which is not installed" in ei.value.message
    monkeypatch.setattr(pio, "missing_dependencies", lambda project: ["platform espressif32", "library x"])
    with pytest.raises(TinymlError) as ei:
        pio.check_installed(tmp_path)
    assert "which are not installed" in ei.value.message


def test_option_names_are_consistent_across_commands(run_cli, tmp_path):
    # every command that writes a file takes -o/--out (some also --output); --engine is -e; --data is -d
    for cmd in ("quantize", "run", "zoo", "convert", "generate", "build"):
        r = run_cli(cmd, "--help")
        line = next((ln for ln in r.stdout.splitlines() if ln.strip().startswith("-o,")), "")
        assert r.returncode == 0, (cmd, r.stderr)
        assert "--out " in line or "--out," in line, (cmd, line)
    for cmd in ("inspect", "run", "generate", "flash"):
        assert "-e, --engine" in run_cli(cmd, "--help").stdout, cmd
    for cmd in ("quantize", "validate"):
        assert "-d, --data" in run_cli(cmd, "--help").stdout, cmd
    (tmp_path / "m.tflite").write_bytes(fc_model(4, 2))
    np.save(tmp_path / "x.npy", np.zeros((2, 4), np.int8))
    r = run_cli("run", "m.tflite", "-i", "x.npy", "--out", "y.npy")
    assert r.returncode == 0, r.stderr
    assert np.load(tmp_path / "y.npy").shape[0] == 2
    r = run_cli("inspect", "m.tflite", "-b", "qemu-mps2-an386", "-e", "aot", "--no-arena")
    assert r.returncode == 0, r.stderr


def test_bad_inputs_never_write_the_output(run_cli, tmp_path):
    (tmp_path / "junk.tflite").write_bytes(b"\x00" * 64)
    for args in (["convert", "junk.tflite", "-o", "c"],
                 ["generate", "junk.tflite", "-b", "qemu-mps2-an386", "-o", "fw"]):
        r = run_cli(*args)
        _clean(r, ErrorKind.INPUT)
        assert not (tmp_path / args[-1]).exists(), args


def test_help_of_every_command_reads_cleanly(run_cli):
    top = run_cli("--help")
    assert top.returncode == 0
    commands = [ln.split()[0] for ln in top.stdout.split("Commands:")[1].splitlines() if ln.strip()]
    assert len(commands) >= 14
    for cmd in commands:
        r = run_cli(cmd, "--help")
        assert r.returncode == 0 and "Traceback" not in r.stderr, cmd
        assert f"Usage: tinyml {cmd}" in r.stdout, cmd


@pytest.mark.parametrize("cmd", [["validate", "proj", "--data", "val.npz"], ["monitor", "proj", "--count", "1"]])
def test_virtual_board_not_running_says_flash_it_not_plug_it_in(run_cli, tmp_path, cmd):
    # before: "no serial port with the USB id of board 'qemu-mps2-an386'; plug the board in"
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "model.tflite").write_bytes(fc_model(4, 2))
    (proj / "tinyml.json").write_text('{"board": "qemu-mps2-an386"}')
    np.savez(tmp_path / "val.npz", x=np.zeros((2, 4), np.int8))
    r = run_cli(*cmd)
    _clean(r, ErrorKind.DEVICE)
    assert "virtual board qemu-mps2-an386" in r.stderr and "is not running" in r.stderr
    assert "tinyml flash" in r.stderr and "plug" not in r.stderr


@pytest.mark.parametrize("args", [["validate"], ["run", "m.tflite"], ["inspect"], ["inspect", "m.tflite", "--foo"],
                                  ["run", "m.tflite", "--input"], ["monitor", "--count", "abc"], ["nosuchcmd"],
                                  ["generate", "m.tflite"]])
def test_usage_errors_are_exit_2_without_traceback(run_cli, args):
    # before: Typer >= 0.2x raises its vendored click's exceptions, which main() did not catch:
    # every missing option, unknown option or bad value was a traceback and exit 1
    r = run_cli(*args)
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE], (r.returncode, r.stderr)
    assert "Traceback" not in r.stderr and "Error: " in r.stderr, r.stderr


@pytest.mark.parametrize("opt", ["--report", "--json"])
def test_validate_checks_its_output_paths_before_talking_to_the_device(run_cli, tmp_path, silent_device, opt):
    # before: the whole data set ran on the device, then writing the report failed
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "model.tflite").write_bytes(fc_model(4, 2))
    np.savez(tmp_path / "val.npz", x=np.zeros((2, 4), np.int8))
    r = run_cli("validate", "proj", "--data", "val.npz", "--port", silent_device, opt, "nodir/out.file")
    _clean(r, ErrorKind.OUTPUT)  # not DEVICE: the silent device was never asked
    assert "nodir does not exist" in r.stderr


def test_inspect_with_a_board_calls_a_typo_engine_unknown(run_cli, tmp_path):
    # before: "board uno does not support the foo engine" (exit 4), as if foo were a real engine
    (tmp_path / "m.tflite").write_bytes(fc_model(4, 2))
    r = run_cli("inspect", "m.tflite", "--board", "uno", "--engine", "foo", "--no-arena")
    _clean(r, ErrorKind.USAGE)
    assert "unknown engine 'foo'" in r.stderr


def test_a_directory_as_output_file_is_refused_with_a_hint(run_cli, tmp_path, silent_device):
    (tmp_path / "adir").mkdir()
    # an empty cache: refused before the (TensorFlow) conversion, which would take seconds
    r = run_cli("zoo", "sine", "-o", "adir", "--force", env={"TINYML_CACHE": str(tmp_path / "cache")})
    _clean(r, ErrorKind.OUTPUT)  # before: converted, then "cannot write adir: Is a directory" with no hint
    assert "adir is a directory" in r.stderr and not (tmp_path / "cache" / "zoo").exists()
    proj = tmp_path / "proj"
    proj.mkdir()
    (proj / "model.tflite").write_bytes(fc_model(4, 2))
    np.savez(tmp_path / "val.npz", x=np.zeros((2, 4), np.int8))
    r = run_cli("validate", "proj", "--data", "val.npz", "--port", silent_device, "--report", "adir")
    _clean(r, ErrorKind.OUTPUT)  # refused before the device run
    assert "adir is a directory" in r.stderr
