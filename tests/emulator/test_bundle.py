"""Firmware bundles end to end on virtual boards: `tinyml build --bundle` (a real PlatformIO build),
then `tinyml flash --bundle` starts the emulator from the bundle's ELF with no project and no
PlatformIO, and the board answers with the bundled model, bit-exact with the TFLM reference."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tinyml.model.reference import quantize_input, run_reference
from tinyml.model.tflite import load

pytestmark = [pytest.mark.emulator, pytest.mark.slow]

BOARDS = {
    "qemu-mps2-an386": ("qemu-system-arm", "arm-none-eabi-gcc"),
    "uno-sim": ("avr-gcc", "gcc"),
}


@pytest.fixture(scope="module")
def cache_env(tmp_path_factory) -> dict[str, str]:
    return {"TINYML_CACHE": str(tmp_path_factory.mktemp("tinyml-cache"))}


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True,
                          env={**os.environ, **env}, timeout=600)


@pytest.mark.parametrize("board", list(BOARDS))
def test_bundle_round_trip_on_a_virtual_board(board, zoo, cache_env, tmp_path):
    if any(shutil.which(t) is None for t in BOARDS[board]):
        pytest.skip(f"needs {', '.join(BOARDS[board])}")
    if board == "uno-sim" and not Path("/usr/include/simavr/sim_avr.h").is_file():
        pytest.skip("needs libsimavr-dev")
    proj = tmp_path / "proj"
    r = _cli(cache_env, "generate", str(zoo["sine"]), "--board", board, "-o", str(proj))
    assert r.returncode == 0, r.stderr
    bundle = tmp_path / "sine.zip"
    r = _cli(cache_env, "build", str(proj), "--bundle", "-o", str(bundle), "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    files = {e["file"] for e in info["images"]}
    assert "images/firmware.elf" in files and (board != "uno-sim" or "images/firmware.hex" in files)
    if board == "uno-sim":
        assert info["avrdude_command"].endswith("-U flash:w:images/firmware.hex:i")
    # same build -> same bytes
    again = tmp_path / "again.zip"
    assert _cli(cache_env, "build", str(proj), "--bundle", "--prebuilt", "-o", str(again)).returncode == 0
    assert again.read_bytes() == bundle.read_bytes()
    with zipfile.ZipFile(bundle) as zf:
        assert zf.read("images/firmware.elf") == (proj / ".pio" / "build" / board / "firmware.elf").read_bytes()

    # The bundle alone: copied away from its project, whose build is removed.
    moved = tmp_path / "elsewhere" / "sine.zip"
    moved.parent.mkdir()
    shutil.copy(bundle, moved)
    shutil.rmtree(proj / ".pio")
    r = _cli(cache_env, "flash", "--bundle", str(moved), "--json")
    assert r.returncode == 0, r.stderr
    up = json.loads(r.stdout)
    try:
        assert up["virtual"] and up["board"] == board and up["port"].startswith("socket://127.0.0.1:")
        model = load(zoo["sine"])
        tin = model.input_tensors()[0]
        x = np.load(zoo["sine_val"])["x"][:16]
        xq = quantize_input(x.reshape((len(x), *tin.shape[1:])), tin)
        from tinyml.serial.client import DeviceClient

        with DeviceClient.open(up["port"], timeout=20.0) as dev:
            hello = dev.hello()
            assert (hello.sha256, hello.board) == (model.sha256, board)
            got = np.stack([np.frombuffer(res.output, dtype=np.int8) for res in dev.infer_many(
                [s.tobytes() for s in xq])])
        want = run_reference(model.raw, xq).reshape(len(xq), -1)
        assert np.array_equal(got, want)
    finally:
        r = _cli(cache_env, "stop", up["project"])
    assert r.returncode == 0 and "stopped" in r.stdout, r.stdout + r.stderr
