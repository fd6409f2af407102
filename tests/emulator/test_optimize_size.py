"""`tinyml generate --optimize size`: the aot model with the reference kernels only
(-DTINYML_NO_FAST), built, flashed on a virtual Cortex-M board and validated bit-exact, with the
smaller flash the fit check predicted."""

from __future__ import annotations

import json
import shutil

import pytest

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None,
                                 reason="needs qemu-system-arm and arm-none-eabi-gcc")]


def test_size_build_is_smaller_and_still_bit_exact(zoo, run_cli, tmp_path, check_flash_prediction) -> None:
    env = {"TINYML_CACHE": str(tmp_path / "cache")}
    fast, small = tmp_path / "fast", tmp_path / "small"
    for out, opt in ((fast, "speed"), (small, "size")):
        r = run_cli("generate", str(zoo["digits"]), "--board", "qemu-lm3s6965evb", "-o", str(out), "--optimize", opt,
                    env=env)
        assert r.returncode == 0, r.stderr
    manifest = json.loads((small / "tinyml.json").read_text())
    assert manifest["optimize"] == "size" and "-DTINYML_NO_FAST" in (small / "platformio.ini").read_text()
    assert "TINYML_NO_FAST" not in (fast / "platformio.ini").read_text()
    predicted_fast = json.loads((fast / "tinyml.json").read_text())["fit"]["flash_used_bytes"]
    assert manifest["fit"]["flash_used_bytes"] < predicted_fast
    r = run_cli("flash", str(small), env=env)
    assert r.returncode == 0, r.stderr
    try:
        check_flash_prediction(small, "cortex-m3")
        r = run_cli("validate", str(small), "--data", str(zoo["digits_val"]), "--require-exact", env=env)
        assert r.returncode == 0, r.stderr
        assert "bit-exact vs TFLM" in r.stdout and "100.00 %" in r.stdout
    finally:
        run_cli("stop", str(small), env=env)
