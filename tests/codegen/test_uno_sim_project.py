"""Projects for the virtual Uno (board uno-sim), without TensorFlow: a small FULLY_CONNECTED model
built with the aot graph builder. The generated project is an Arduino sketch on the tinyml-simavr
platform (copied into the project), and it builds offline against the real Arduino AVR core with
-Wall -Wextra and no warning."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyml.boards import get_board
from tinyml.codegen.aot.synth import GraphBuilder
from tinyml.codegen.project import generate_project
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen

ARDUINO_CORE = Path("/usr/share/arduino/hardware/arduino/avr/cores/arduino/Arduino.h")


def fc_model(units: int = 6, depth: int = 8, seed: int = 3) -> bytes:
    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    x = g.tensor((1, depth), scale=0.05, zero_point=-3, name="input")
    w = g.tensor((units, depth), data=rng.integers(-127, 128, (units, depth)).astype(np.int8), scale=0.01,
                 zero_point=0)
    b = g.tensor((units,), "int32", data=rng.integers(-500, 500, units).astype(np.int32), scale=0.05 * 0.01,
                 zero_point=0)
    y = g.tensor((1, units), scale=0.1, zero_point=4, name="output")
    g.op("FULLY_CONNECTED", [x, w, b], [y], fused_activation_function="RELU")
    return g.build([x], [y])


@pytest.fixture(scope="module")
def files() -> dict[str, str | bytes]:
    return generate_project(parse(fc_model()), get_board("uno-sim"), "aot", name="fc")


def _text(files: dict[str, str | bytes], key: str) -> str:
    v = files[key]
    return v.decode() if isinstance(v, bytes) else v


def test_uno_sim_project_is_an_arduino_sketch_on_the_simavr_platform(files):
    ini = _text(files, "platformio.ini")
    assert "platform = symlink://${PROJECT_DIR}/platform/tinyml-simavr" in ini
    assert re.search(r"^board = atmega328p-uno$", ini, re.M) and re.search(r"^framework = arduino$", ini, re.M)
    assert re.search(r"^upload_protocol = simavr$", ini, re.M) and "ldscript" not in ini
    assert "void setup()" in _text(files, "src/main.cpp") and "void loop()" in _text(files, "src/main.cpp")
    assert "tinyml_sim_rx_taken" in _text(files, "src/port/arduino/port.cpp")
    for part in ("platform.json", "platform.py", "boards/atmega328p-uno.json", "builder/main.py",
                 "builder/frameworks/arduino.py", "bridge/simavr_uart_bridge.c"):
        assert f"platform/tinyml-simavr/{part}" in files
    assert not any(k.startswith(("ld/", "src/port/cortex_m")) for k in files)
    assert "simavr" in _text(files, "README.md") and "qemu" not in _text(files, "README.md").lower()
    # weights in flash: TINYML_CONST is PROGMEM on AVR
    assert "static TINYML_CONST int8_t op0_filter" in _text(files, "src/model.c")
    assert "#define TINYML_CONST const PROGMEM" in _text(files, "include/tinyml/kernels.h")


def test_uno_sim_project_is_deterministic(files):
    again = generate_project(parse(fc_model()), get_board("uno-sim"), "aot", name="fc")
    assert again == files


@pytest.mark.skipif(shutil.which("avr-gcc") is None or not ARDUINO_CORE.is_file(),
                    reason="needs avr-gcc and arduino-core-avr")
def test_uno_sim_project_builds_offline_without_warnings(files, tmp_path, monkeypatch):
    from tinyml.build import pio
    from tinyml.writer import write_tree

    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    project = tmp_path / "fc-uno-sim"
    write_tree(project, files)
    res = pio.run_pio(project)
    out = res.stdout + res.stderr
    assert "warning:" not in out, [ln for ln in out.splitlines() if "warning:" in ln][:5]
    ram = re.search(r"RAM:.*used (\d+) bytes from 2048 bytes", out)
    flash = re.search(r"Flash:.*used (\d+) bytes from 32256 bytes", out)
    assert ram and flash, out[-2000:]
    elf = project / ".pio" / "build" / "uno-sim" / "firmware.elf"
    hexfile = project / ".pio" / "build" / "uno-sim" / "firmware.hex"  # the same image, for avrdude
    assert hexfile.read_text().startswith(":10000000") and hexfile.read_text().rstrip().endswith(":00000001FF")
    size = subprocess.run(["avr-size", "-A", "-d", str(elf)], capture_output=True, text=True, check=True).stdout
    sec = {k: int(v) for k, v in re.findall(r"^\.(text|data|bss)\s+(\d+)", size, re.M)}
    assert int(ram.group(1)) == sec["data"] + sec["bss"] and int(flash.group(1)) == sec["text"] + sec["data"]
    nm = subprocess.run(["avr-nm", "-C", str(elf)], capture_output=True, text=True, check=True).stdout
    # the real Arduino core (its Serial and main()) and the port's credit counter
    for sym in (" Serial", " main", " tinyml_sim_rx_taken"):
        assert re.search(rf"{sym}$", nm, re.M), sym
