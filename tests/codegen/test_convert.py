"""`tinyml convert`: model_data.h/.c compile everywhere, embed the exact bytes, aligned, reproducibly."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from tinyml import __version__
from tinyml.codegen.c_array import check_symbol, generate_c_array
from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError
from tinyml.model.tflite import parse

pytestmark = pytest.mark.codegen

_spec = importlib.util.spec_from_file_location(
    "inspect_test_models", Path(__file__).resolve().parent.parent / "unit" / "test_inspect_models.py")
assert _spec and _spec.loader
_models = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_models)

WARN = ["-Wall", "-Wextra", "-Werror"]


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("convert") / "cnn.tflite"
    p.write_bytes(_models.cnn_model())
    return p


@pytest.fixture(scope="module")
def converted(model_file, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("converted") / "out"
    r = subprocess.run([*_tinyml(), "convert", str(model_file), "-o", str(out), "--name", "g_model"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    return out


def _tinyml() -> list[str]:
    import sys

    return [sys.executable, "-m", "tinyml"]


def _need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (scripts/setup installs it)")
    return path


def test_files_and_banner(converted, model_file):
    sha = parse(model_file.read_bytes()).sha256
    assert sorted(p.name for p in converted.iterdir()) == ["model_data.c", "model_data.h"]
    for name in ("model_data.c", "model_data.h"):
        text = (converted / name).read_text()
        assert f"tinyml {__version__}" in text and sha in text
    h = (converted / "model_data.h").read_text()
    assert "extern const unsigned char g_model[];" in h and "extern const unsigned int g_model_len;" in h
    assert 'extern "C"' in h and "#ifndef TINYML_G_MODEL_MODEL_DATA_H" in h
    assert f"g_model_len = {model_file.stat().st_size}u;" in (converted / "model_data.c").read_text()


@pytest.mark.parametrize("compiler, flags", [
    ("gcc", ["-std=c99", "-pedantic"]),
    ("gcc", ["-std=c11", "-pedantic"]),
    ("g++", ["-x", "c++", "-std=c++11"]),
    ("g++", ["-x", "c++", "-std=c++17"]),
    ("arm-none-eabi-gcc", ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-std=c99"]),
    ("arm-none-eabi-gcc", ["-mcpu=cortex-m0plus", "-mthumb", "-std=c99", "-Os"]),
    ("avr-gcc", ["-mmcu=atmega328p", "-Os", "-DTINYML_MODEL_PROGMEM"]),
], ids=["c99", "c11", "c++11", "c++17", "cortex-m4", "cortex-m0plus", "avr-progmem"])
def test_compiles_warning_free(converted, tmp_path, compiler, flags):
    _need(compiler)
    obj = tmp_path / "model_data.o"
    r = subprocess.run([compiler, *WARN, *flags, "-c", str(converted / "model_data.c"), "-o", str(obj)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert obj.stat().st_size > 0


def test_arm_object_is_16_byte_aligned(converted, tmp_path, model_file):
    _need("arm-none-eabi-gcc")
    objdump = _need("arm-none-eabi-objdump")
    obj = tmp_path / "m.o"
    subprocess.run(["arm-none-eabi-gcc", *WARN, "-mcpu=cortex-m4", "-mthumb", "-c",
                    str(converted / "model_data.c"), "-o", str(obj)], check=True)
    headers = subprocess.run([objdump, "-h", str(obj)], capture_output=True, text=True, check=True).stdout
    rodata = [ln.split() for ln in headers.splitlines() if ".rodata" in ln]
    assert rodata, headers
    size, align = int(rodata[0][2], 16), rodata[0][-1]
    assert size >= model_file.stat().st_size
    assert align in ("2**4", "2**5", "2**6"), headers


def test_host_program_reproduces_the_bytes(converted, tmp_path, model_file):
    """A C++ program linking model_data.c writes the array out; it must equal the .tflite."""
    _need("gcc")
    _need("g++")
    main = tmp_path / "dump.cpp"
    main.write_text(
        '#include <cstdio>\n#include <cstdint>\n#include "model_data.h"\n'
        "int main(int argc, char **argv) {\n"
        "  if (argc != 2) return 2;\n"
        "  if (reinterpret_cast<std::uintptr_t>(g_model) % 16 != 0) return 3;\n"
        '  std::FILE *f = std::fopen(argv[1], "wb");\n'
        "  if (!f) return 4;\n"
        "  std::size_t n = std::fwrite(g_model, 1, g_model_len, f);\n"
        "  std::fclose(f);\n"
        "  return n == g_model_len ? 0 : 5;\n}\n")
    obj = tmp_path / "model_data.o"
    exe = tmp_path / "dump"
    subprocess.run(["gcc", *WARN, "-std=c99", "-c", str(converted / "model_data.c"), "-o", str(obj)], check=True)
    subprocess.run(["g++", *WARN, f"-I{converted}", str(main), str(obj), "-o", str(exe)], check=True)
    out = tmp_path / "back.tflite"
    r = subprocess.run([str(exe), str(out)], capture_output=True)
    assert r.returncode == 0, f"exit {r.returncode} (3 = misaligned)"
    assert out.read_bytes() == model_file.read_bytes()


def test_rerun_is_byte_identical(run_cli, model_file, converted, tmp_path):
    out = tmp_path / "again"
    r = run_cli("convert", str(model_file), "-o", str(out), "--name", "g_model")
    assert r.returncode == 0, r.stderr
    for name in ("model_data.c", "model_data.h"):
        assert (out / name).read_bytes() == (converted / name).read_bytes()


def test_merges_into_existing_dir(run_cli, model_file, tmp_path):
    out = tmp_path / "src"
    out.mkdir()
    (out / "main.c").write_text("int main(void) { return 0; }\n")
    (out / "model_data.c").write_text("stale\n")
    r = run_cli("convert", str(model_file), "-o", str(out), "--name", "tiny_model")
    assert r.returncode == 0, r.stderr
    assert (out / "main.c").read_text() == "int main(void) { return 0; }\n"
    assert "tiny_model_len" in (out / "model_data.c").read_text()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no temp files left


def test_default_output_is_current_dir(run_cli, model_file, tmp_path):
    r = run_cli("convert", str(model_file), cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "model_data.h").is_file() and "g_model" in (tmp_path / "model_data.h").read_text()


@pytest.mark.parametrize("symbol, why", [("1model", "not a valid C identifier"), ("my-model", "not a valid C"),
                                         ("", "not a valid C"), ("int", "keyword"), ("class", "keyword"),
                                         ("_Bool", "keyword"), ("__model", "reserved"), ("_Model", "reserved")])
def test_bad_symbol(run_cli, model_file, tmp_path, symbol, why):
    out = tmp_path / "out"
    r = run_cli("convert", str(model_file), "-o", str(out), "--name", symbol)
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE], r.stderr
    assert why in r.stderr and "Traceback" not in r.stderr
    assert not out.exists()


def test_good_symbols():
    for s in ("g_model", "model2", "_model", "Model_data"):
        assert check_symbol(s) == s
    with pytest.raises(TinymlError):
        generate_c_array(parse(_models.fc_model()), "double")


def test_missing_model(run_cli, tmp_path):
    r = run_cli("convert", str(tmp_path / "nope.tflite"), "-o", str(tmp_path / "out"))
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT]
    assert "does not exist" in r.stderr and not (tmp_path / "out").exists()


def test_not_a_model(run_cli, tmp_path):
    p = tmp_path / "readme.tflite"
    p.write_text("hello\n")
    r = run_cli("convert", str(p), "-o", str(tmp_path / "out"))
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT] and "not a valid .tflite" in r.stderr
    assert not (tmp_path / "out").exists()


def test_missing_parent(run_cli, model_file, tmp_path):
    out = tmp_path / "no" / "such" / "dir"
    r = run_cli("convert", str(model_file), "-o", str(out))
    assert r.returncode == EXIT_CODES[ErrorKind.OUTPUT], r.stderr
    assert "does not exist" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "no").exists()


def test_output_is_a_file(run_cli, model_file, tmp_path):
    f = tmp_path / "file.txt"
    f.write_text("x")
    for out in (f, f / "sub"):
        r = run_cli("convert", str(model_file), "-o", str(out))
        assert r.returncode == EXIT_CODES[ErrorKind.OUTPUT], (out, r.stderr)
        assert "Traceback" not in r.stderr
    assert f.read_text() == "x"


def test_read_only_directory(run_cli, model_file, tmp_path):
    if os.geteuid() == 0:
        # root ignores permission bits; /proc is not writable even for root
        targets = [Path("/proc/self"), Path("/proc/tinyml-convert-test")]
    else:
        ro = tmp_path / "ro"
        ro.mkdir()
        ro.chmod(0o500)
        targets = [ro, ro / "sub"]
    for out in targets:
        r = run_cli("convert", str(model_file), "-o", str(out))
        assert r.returncode == EXIT_CODES[ErrorKind.OUTPUT], (out, r.stderr)
        assert "Traceback" not in r.stderr and "writ" in r.stderr, r.stderr
    if os.geteuid() != 0:
        assert list((tmp_path / "ro").iterdir()) == []
