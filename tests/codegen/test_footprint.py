"""The aot model's flash, measured by compiling it for the board's arch (tinyml.codegen.aot.footprint)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tinyml.codegen.aot import footprint
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen


def _fc(units: int, depth: int) -> bytes:
    g = GraphBuilder()
    x = g.tensor((1, depth), scale=0.05, zero_point=-2, name="x")
    w = g.tensor((units, depth), data=np.random.default_rng(0).integers(-127, 128, (units, depth)).astype(np.int8),
                 scale=0.01)
    y = g.tensor((1, units), scale=0.2, zero_point=1, name="y")
    g.op("FULLY_CONNECTED", [x, w, -1], [y])
    return g.build([x], [y])


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYML_CACHE", str(tmp_path))
    return tmp_path / "footprint"


@pytest.mark.parametrize("arch, tool", [("cortex-m4f", "arm-none-eabi-gcc"), ("cortex-m0plus", "arm-none-eabi-gcc"),
                                        ("avr", "avr-gcc")])
def test_weights_and_kernel_code_are_counted_and_cached(cache, arch: str, tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool}")
    small, large = parse(_fc(8, 64)), parse(_fc(60, 512))  # < 32 KB: AVR's largest array
    a = footprint.model_flash_bytes(small, arch)
    b = footprint.model_flash_bytes(large, arch)
    assert a is not None and b is not None
    assert a > 8 * 64  # the weights and some code
    # 30,208 more weight bytes, the same kernel code, and per output unit its requantization
    # constants (bias, multiplier, shift: at most 24 bytes in any variant) for 52 more units
    assert 60 * 512 - 8 * 64 <= b - a <= 60 * 512 - 8 * 64 + 24 * (60 - 8) + 256
    assert len(list(cache.glob("*.json"))) == 2 and len(list(cache.glob("kernels-*.a"))) == 1
    (cache / "kernels-poison.a").write_text("")  # a second call reads the cache: no compile at all
    assert footprint.model_flash_bytes(small, arch) == a


def test_a_model_larger_than_the_uno_is_still_measured(cache) -> None:
    if shutil.which("avr-gcc") is None:
        pytest.skip("needs avr-gcc")
    flash = footprint.model_flash_bytes(parse(_fc(100, 320)), "avr")  # 32,000 B of weights
    assert flash is not None and flash > 32_256


def test_unmeasurable_arches_and_missing_compilers_give_none(cache, monkeypatch) -> None:
    model = parse(_fc(4, 8))
    assert footprint.model_flash_bytes(model, "xtensa-lx6") is None
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert footprint.model_flash_bytes(model, "cortex-m4f") is None


def test_the_uno_fit_check_counts_the_measured_code(cache, run_cli, tmp_path) -> None:
    """A model whose weights alone would fit the Uno but whose code + core do not is refused."""
    if shutil.which("avr-gcc") is None:
        pytest.skip("needs avr-gcc")
    model = tmp_path / "fc.tflite"
    model.write_bytes(_fc(64, 300))  # 19,200 B of weights: + 11.5 KB of core and runtime > 31.5 KB
    r = run_cli("generate", str(model), "--board", "uno-sim", "-o", str(tmp_path / "p"),
                env={"TINYML_CACHE": str(tmp_path)})
    assert r.returncode == 5, r.stderr
    assert "does not fit uno-sim" in r.stderr and "runtime and framework" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "p").exists()


def test_optimize_is_checked_before_anything_is_written(run_cli, tmp_path) -> None:
    model = tmp_path / "fc.tflite"
    model.write_bytes(_fc(4, 8))
    r = run_cli("generate", str(model), "--board", "esp32dev", "--engine", "tflm", "--optimize", "size",
                "-o", str(tmp_path / "p"))
    assert r.returncode == 2 and "--optimize size" in r.stderr and "--engine aot" in r.stderr
    r = run_cli("generate", str(model), "--board", "qemu-mps2-an386", "--optimize", "tiny", "-o", str(tmp_path / "p"))
    assert r.returncode == 2 and "unknown --optimize 'tiny'" in r.stderr and "speed, size" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "p").exists()


@pytest.mark.parametrize("arch, tool", [("cortex-m4f", "arm-none-eabi-gcc"), ("avr", "avr-gcc")])
def test_the_size_build_is_measured_with_its_flags(cache, arch: str, tool: str) -> None:
    if shutil.which(tool) is None:
        pytest.skip(f"needs {tool}")
    model = parse(_fc(16, 64))
    fast = footprint.model_flash_bytes(model, arch)
    small = footprint.model_flash_bytes(model, arch, ("-DTINYML_NO_FAST",))
    assert fast is not None and small is not None
    if arch == "avr":
        assert small == fast  # AVR has only the reference loops anyway
    else:
        assert small < fast
