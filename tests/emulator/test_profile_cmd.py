"""`tinyml profile` on both QEMU boards: the runtime's per-layer cycles ('P' / 'L' frames) for a
flashed aot project, joined with the model's layers and MACs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tinyml.model.tflite import load
from tinyml.profile.device import aot_layers

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]


@pytest.mark.parametrize("board", ["qemu-mps2-an386", "qemu-lm3s6965evb"])
def test_profile_reports_every_layer(board, zoo, tmp_path) -> None:
    env = {**os.environ, "TINYML_CACHE": str(tmp_path / "cache")}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "tinyml", *args], capture_output=True, text=True, env=env,
                              timeout=600)

    proj = tmp_path / "proj"
    r = cli("generate", str(zoo["digits"]), "--board", board, "-o", str(proj))
    assert r.returncode == 0, r.stderr
    r = cli("flash", str(proj), "--json")
    assert r.returncode == 0, r.stderr
    try:
        r = cli("profile", str(proj), "--json", "--runs", "2")
        assert r.returncode == 0, r.stderr
        prof = json.loads(r.stdout)
        table = cli("profile", str(proj))
        assert table.returncode == 0 and "MACs/cycle" in table.stdout, table.stderr
    finally:
        assert cli("stop", str(proj)).returncode == 0
    want = aot_layers(load(zoo["digits"]))
    assert [(layer["op"], layer["macs"]) for layer in prof["layers"]] == want
    cycles = [layer["cycles"] for layer in prof["layers"]]
    assert all(c > 0 for c in cycles)
    assert sum(cycles) <= prof["total_cycles"]  # the layers run inside tinyml_invoke
    assert prof["instructions_per_cycle"] > 0  # a virtual board: instructions derived from -icount time
    conv = [layer for layer in prof["layers"] if layer["op"] == "CONV_2D"]
    assert conv and all(layer["macs_per_cycle"] > 0 for layer in conv)


def test_profile_of_a_missing_project_is_one_line_error(run_cli, tmp_path) -> None:
    r = run_cli("profile", str(tmp_path / "nope"))
    assert r.returncode != 0
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
