"""Generated PlatformIO projects, checked offline: layout, determinism, the ini, the TFLM op
resolver and arena against the model and the measurement, and the aot C compiled for the
board's architecture with the Debian cross compilers."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tinyml.boards import get_board
from tinyml.errors import EXIT_CODES, ErrorKind
from tinyml.model.tflite import load

pytestmark = [pytest.mark.codegen, pytest.mark.slow]


def _gen(model_path: Path, board: str, engine: str | None = None, **kw):
    from tinyml.codegen.project import generate_project

    return generate_project(load(model_path), get_board(board), engine, **kw)


def _text(files, name: str) -> str:
    v = files[name]
    return v.decode() if isinstance(v, bytes) else v


def _ini(files) -> configparser.SectionProxy:
    cp = configparser.ConfigParser(interpolation=None)
    cp.read_string(_text(files, "platformio.ini"))
    envs = [s for s in cp.sections() if s.startswith("env:")]
    assert len(envs) == 1
    return cp[envs[0]]


def _define(text: str, name: str) -> str:
    m = re.search(rf"^#define {name} (.+)$", text, re.M)
    assert m, f"{name} not defined"
    return m.group(1).strip()


def test_virtual_project_is_complete_and_deterministic(zoo):
    a = _gen(zoo["sine"], "qemu-mps2-an386")
    b = _gen(zoo["sine"], "qemu-mps2-an386")
    assert a == b
    for f in ("src/main.c", "src/model.c", "include/model.h", "include/samples.h", "src/tinyml/runtime.c",
              "src/tinyml/protocol.c", "src/port/cmsdk_uart/port.c", "src/port/cortex_m/startup.c",
              "ld/mps2-an386.ld", "platform/tinyml-qemu/builder/main.py", "platform/tinyml-qemu/platform.json",
              "model.tflite", "tinyml.json", "README.md"):
        assert f in a, f
    ini = _ini(a)
    assert ini["platform"] == "symlink://${PROJECT_DIR}/platform/tinyml-qemu"
    assert ini["board"] == "mps2-an386" and "framework" not in ini
    manifest = json.loads(_text(a, "tinyml.json"))
    model = load(zoo["sine"])
    assert manifest["model"]["sha256"] == model.sha256 and manifest["engine"] == "aot"
    assert manifest["board"] == "qemu-mps2-an386" and manifest["samples"]["count"] == 32
    from tinyml.codegen.aot import plan

    assert manifest["arena_bytes"] == plan(model).arena_bytes
    assert a["model.tflite"] == model.raw
    # the stream samples sweep the whole int8 range for a one-value input
    rows = re.findall(r"^\s*\{ (.+) \},$", _text(a, "include/samples.h"), re.M)
    vals = [int(r) for r in rows]
    assert len(vals) == 32 and min(np.int8(np.uint8(v)) for v in vals) == -128


def test_lm3s_project_uses_the_pl011_port(zoo):
    files = _gen(zoo["digits"], "qemu-lm3s6965evb")
    assert "src/port/pl011/port.c" in files and "src/port/cmsdk_uart/port.c" not in files
    assert _ini(files)["board_build.ldscript"] == "ld/lm3s6965evb.ld"


def test_model_too_big_for_the_board(run_cli, zoo, tmp_path):
    r = run_cli("generate", str(zoo["big"]), "--board", "qemu-lm3s6965evb", "-o", str(tmp_path / "p"))
    assert r.returncode == EXIT_CODES[ErrorKind.DOES_NOT_FIT], r.stderr
    assert "does not fit qemu-lm3s6965evb" in r.stderr and "RAM" in r.stderr and "65,536" in r.stderr
    assert "Traceback" not in r.stderr and not (tmp_path / "p").exists()


def test_generate_cli_writes_once_and_needs_force(run_cli, zoo, tmp_path):
    out = tmp_path / "p"
    r = run_cli("generate", str(zoo["sine"]), "--board", "qemu-mps2-an386", "-o", str(out), "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["project"] == str(out) and (out / "platformio.ini").is_file()
    r = run_cli("generate", str(zoo["sine"]), "--board", "qemu-mps2-an386", "-o", str(out))
    assert r.returncode == EXIT_CODES[ErrorKind.OUTPUT] and "--force" in r.stderr
    r = run_cli("generate", str(zoo["sine"]), "--board", "qemu-mps2-an386", "-o", str(out), "--force")
    assert r.returncode == 0, r.stderr


def test_samples_from_npz_are_quantized_like_the_reference(run_cli, zoo, tmp_path):
    from tinyml.model.reference import quantize_input

    out = tmp_path / "p"
    r = run_cli("generate", str(zoo["digits"]), "--board", "qemu-mps2-an386", "-o", str(out),
                "--samples", str(zoo["digits_val"]))
    assert r.returncode == 0, r.stderr
    model = load(zoo["digits"])
    x = np.load(zoo["digits_val"])["x"]
    want = quantize_input(x[:64], model.input_tensors()[0])
    rows = re.findall(r"^\s*\{ (.+) \},$", (out / "include" / "samples.h").read_text(), re.M)
    got = np.array([[int(v) for v in row.split(",")] for row in rows], dtype=np.uint8).view(np.int8)
    assert got.shape == (min(64, len(x)), 64)
    assert np.array_equal(got, want.reshape(len(got), -1))


def test_bad_samples_file(run_cli, zoo, tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, x=np.zeros((3, 5), dtype=np.float32))
    r = run_cli("generate", str(zoo["digits"]), "--board", "qemu-mps2-an386", "-o", str(tmp_path / "p"),
                "--samples", str(bad))
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT] and "Traceback" not in r.stderr


@pytest.mark.parametrize("board", ["esp32dev", "esp32-s3-devkitc-1", "nano33ble"])
def test_tflm_project_for_a_real_board(zoo, board):
    from tinyml.codegen.project import CHIRALE, tflm_arena
    from tinyml.model.analysis import TFLM_RESOLVER
    from tinyml.model.arena import measure_arena, runs_with_arena

    model = load(zoo["digits"])
    b = get_board(board)
    files = _gen(zoo["digits"], board, "tflm")
    ini = _ini(files)
    assert (ini["platform"], ini["board"], ini["framework"]) == (b.pio_platform, b.pio_board, "arduino")
    assert ini["lib_deps"].split() == [CHIRALE]
    assert ini["monitor_speed"] == str(b.serial_baud)
    assert "src/main.cpp" in files and "src/port/arduino/port.cpp" in files
    # exactly the model's ops in the resolver, and N equal to their number
    cpp = _text(files, "src/model.cpp")
    calls = re.findall(r"tm_resolver\.(Add\w+)\(\)", cpp)
    assert sorted(calls) == sorted({TFLM_RESOLVER[op] for op in model.opcodes()})
    assert f"MicroMutableOpResolver<{len(calls)}>" in cpp
    # the arena: the measurement plus the stated margin, and the measurement really is the minimum
    measured = measure_arena(model.raw)
    header = _text(files, "include/model.h")
    arena = int(_define(header, "TINYML_ARENA_BYTES"))
    assert arena == tflm_arena(measured)[0] and arena >= measured + 1024 and arena % 16 == 0
    assert runs_with_arena(model.raw, measured) and not runs_with_arena(model.raw, measured - 16)
    assert f"{measured} B measured" in header
    # the model array is the .tflite byte for byte, 16-byte aligned
    data_h = _text(files, "include/model_data.h")
    assert "alignas(16)" in data_h
    raw = bytes(int(v, 16) for v in re.findall(r"0x([0-9a-f]{2})", data_h))
    assert raw == model.raw
    assert _define(header, "TINYML_ENGINE") == '"tflm"'


def _compile_all(files, tmp_path: Path, cc: list[str], flags: list[str]) -> list[Path]:
    from tinyml.writer import write_tree

    root = write_tree(tmp_path / "proj", files)
    objs = []
    for src in sorted((root / "src").rglob("*.c")):
        if "port" in src.parts:
            continue  # the port needs the board's framework (Arduino core)
        obj = tmp_path / "obj" / (src.relative_to(root).as_posix().replace("/", "_") + ".o")
        obj.parent.mkdir(exist_ok=True)
        r = subprocess.run([*cc, *flags, "-Wall", "-Wextra", "-Werror", "-I", str(root / "include"),
                            "-DTINYML_BOARD=\"x\"", "-c", str(src), "-o", str(obj)], capture_output=True, text=True)
        assert r.returncode == 0, f"{src.name}: {r.stderr}"
        objs.append(obj)
    return objs


@pytest.mark.skipif(shutil.which("avr-gcc") is None, reason="avr-gcc not installed")
def test_uno_aot_project_compiles_for_avr(zoo, tmp_path):
    files = _gen(zoo["digits"], "uno", "aot")
    ini = _ini(files)
    assert (ini["platform"], ini["board"], ini["framework"]) == ("atmelavr", "uno", "arduino")
    assert "lib_deps" not in ini
    assert "_PROGMEM" in _text(files, "include/samples.h")
    objs = _compile_all(files, tmp_path, ["avr-gcc"], ["-mmcu=atmega328p", "-DF_CPU=16000000L", "-Os", "-std=gnu11"])
    assert any(o.name.startswith("src_model.c") for o in objs)


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_nano33ble_aot_project_compiles_for_cortex_m4f(zoo, tmp_path):
    files = _gen(zoo["digits"], "nano33ble", "aot")
    assert _ini(files)["platform"] == "nordicnrf52"
    _compile_all(files, tmp_path, ["arm-none-eabi-gcc"],
                 ["-mcpu=cortex-m4", "-mthumb", "-mfpu=fpv4-sp-d16", "-mfloat-abi=hard", "-Os", "-std=gnu11"])


# Declarations with TFLM's own signatures (tensorflow/lite/micro at the API the Chirale library
# ships): enough to compile the generated glue, so a typo in the template fails here, offline.
_TFLM_STUB = r"""
#pragma once
#include <stddef.h>
#include <stdint.h>
typedef enum { kTfLiteOk = 0, kTfLiteError = 1 } TfLiteStatus;
typedef union { int8_t *int8; float *f; char *raw; void *data; } TfLitePtrUnion;
typedef struct { TfLitePtrUnion data; size_t bytes; } TfLiteTensor;
namespace tflite {
struct Model { uint32_t version() const; };
const Model *GetModel(const void *buf);
class MicroResourceVariables;
class MicroProfilerInterface;
class MicroOpResolver { public: virtual ~MicroOpResolver() {} };
template <unsigned int tOpCount> class MicroMutableOpResolver : public MicroOpResolver {
 public:
%METHODS%
};
class MicroInterpreter {
 public:
  MicroInterpreter(const Model *model, const MicroOpResolver &op_resolver, uint8_t *tensor_arena,
                   size_t tensor_arena_size, MicroResourceVariables *resource_variables = nullptr,
                   MicroProfilerInterface *profiler = nullptr, bool preserve_all_tensors = false);
  TfLiteStatus AllocateTensors();
  TfLiteStatus Invoke();
  TfLiteTensor *input(size_t index);
  TfLiteTensor *output(size_t index);
};
}  // namespace tflite
"""


@pytest.mark.skipif(shutil.which("g++") is None, reason="g++ not installed")
@pytest.mark.parametrize("esp32", [False, True], ids=["static-arena", "esp32-heap-arena"])
def test_tflm_glue_compiles_against_the_tflm_api(zoo, tmp_path, esp32):
    from tinyml.model.analysis import TFLM_RESOLVER
    from tinyml.writer import write_tree

    files = _gen(zoo["digits"], "esp32dev" if esp32 else "nano33ble", "tflm")
    root = write_tree(tmp_path / "proj", files)
    stub = tmp_path / "stub"
    methods = "\n".join(f"  TfLiteStatus {m}();" for m in sorted(set(TFLM_RESOLVER.values())))
    for rel in ("tensorflow/lite/micro/micro_mutable_op_resolver.h", "tensorflow/lite/micro/micro_interpreter.h",
                "tensorflow/lite/schema/schema_generated.h"):
        (stub / rel).parent.mkdir(parents=True, exist_ok=True)
        (stub / rel).write_text(_TFLM_STUB.replace("%METHODS%", methods))
    (stub / "Chirale_TensorFlowLite.h").write_text("#pragma once\n")
    r = subprocess.run(["g++", "-std=gnu++17", "-fsyntax-only", "-Wall", "-Wextra", "-Werror",
                        *(["-DESP32"] if esp32 else []), "-I", str(stub), "-I", str(root / "include"),
                        str(root / "src" / "model.cpp")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="arm-none-eabi-gcc not installed")
def test_virtual_project_builds_with_plain_platformio_anywhere(zoo, tmp_path, monkeypatch):
    """Self-contained: no path into the tinyml tree, and `pio run` (no tinyml in between) builds it
    after the project was moved."""
    import os
    import sys

    from tinyml.build import pio
    from tinyml.resources import ROOT
    from tinyml.writer import write_tree

    files = _gen(zoo["digits"], "qemu-lm3s6965evb")
    for name, content in files.items():
        text = content if isinstance(content, str) else content.decode("latin-1")
        assert str(ROOT) not in text, f"{name} refers to the tinyml tree"
    first = write_tree(tmp_path / "first", files)
    moved = tmp_path / "elsewhere" / "proj"
    moved.parent.mkdir()
    first.rename(moved)
    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    pio.ensure_scons()
    env = {**os.environ, "PLATFORMIO_CORE_DIR": str(pio.core_dir())}
    r = subprocess.run([sys.executable, "-m", "platformio", "run", "-d", str(moved)], capture_output=True, text=True,
                       env=env, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:]
    assert (moved / ".pio" / "build" / "qemu-lm3s6965evb" / "firmware.elf").is_file()
    assert "warning:" not in r.stdout + r.stderr
