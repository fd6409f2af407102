"""PlatformIO plumbing and the fail-fast paths of build/flash/stop (no model, no emulator)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tinyml.build import pio
from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError
from tinyml.resources import resource_dir

pytestmark = pytest.mark.unit


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("TINYML_CACHE", str(d))
    return d


def _project(root: Path, ini: str, board: str | None = None) -> Path:
    root.mkdir(parents=True)
    (root / "platformio.ini").write_text(ini)
    if board:
        (root / "tinyml.json").write_text(json.dumps({"board": board}))
    return root


ESP32_INI = "[env:esp32dev]\nplatform = espressif32\nboard = esp32dev\nframework = arduino\n" \
            "lib_deps =\n    spaziochirale/Chirale_TensorFLowLite@2.0.0\n"
QEMU_INI = f"[env:q]\nplatform = symlink://{resource_dir('firmware') / 'platforms' / 'tinyml-qemu'}\n" \
           "board = mps2-an386\n"


def test_core_dir_and_env_follow_tinyml_cache(cache):
    env = pio.pio_env()
    assert env["PLATFORMIO_CORE_DIR"] == str(cache / "platformio")
    assert env["PLATFORMIO_SETTING_ENABLE_TELEMETRY"] == "No"
    assert env["PLATFORMIO_DISABLE_UPGRADE_CHECK"] == "true"


def test_scons_is_provisioned_from_the_installed_package(cache):
    dest = pio.ensure_scons()
    meta = json.loads((dest / ".piopm").read_text())
    assert meta["spec"]["owner"] == "platformio" and meta["version"] == pio.SCONS_PACKAGE_VERSION
    assert json.loads((dest / "package.json").read_text())["name"] == "tool-scons"
    assert (dest / "SCons" / "Script" / "__init__.py").is_file()
    # platformio's own pin must accept the version we claim
    from platformio.dependencies import get_core_dependencies
    from semantic_version import SimpleSpec, Version

    assert Version(pio.SCONS_PACKAGE_VERSION) in SimpleSpec(get_core_dependencies()["tool-scons"])


def test_missing_dependencies_lists_registry_platform_and_libraries(cache, tmp_path):
    proj = _project(tmp_path / "p", ESP32_INI)
    missing = pio.missing_dependencies(proj)
    assert "platform espressif32" in missing
    assert any("Chirale_TensorFLowLite" in m for m in missing)


def test_local_platform_needs_nothing_from_the_registry(cache, tmp_path):
    assert pio.missing_dependencies(_project(tmp_path / "p", QEMU_INI)) == []


def test_missing_local_platform_is_an_input_error(cache, tmp_path):
    proj = _project(tmp_path / "p", "[env:q]\nplatform = symlink:///nonexistent/platform\nboard = x\n")
    with pytest.raises(TinymlError) as exc:
        pio.missing_dependencies(proj)
    assert exc.value.kind == ErrorKind.INPUT


def test_registry_probe_is_bounded_in_time():
    t0 = time.monotonic()
    pio.registry_reachable(timeout=1.0)
    assert time.monotonic() - t0 < 2.0


def test_offline_build_fails_fast_with_the_install_command(run_cli, tmp_path):
    proj = _project(tmp_path / "esp", ESP32_INI)
    t0 = time.monotonic()
    r = run_cli("build", str(proj), env={"TINYML_CACHE": str(tmp_path / "cache"), "TINYML_OFFLINE": "1"})
    elapsed = time.monotonic() - t0
    assert r.returncode == EXIT_CODES[ErrorKind.OFFLINE], r.stderr
    assert elapsed < 5.0
    assert "pio pkg install -d" in r.stderr and str(proj) in r.stderr
    assert "espressif32" in r.stderr and "Traceback" not in r.stderr


def test_offline_guard_with_the_real_probe_is_fast(run_cli, tmp_path):
    """No TINYML_OFFLINE: the registry probe itself must give up quickly when there is no network
    (with network, pio would start downloading, so only check this when the probe fails)."""
    if pio.registry_reachable():
        pytest.skip("the registry is reachable from here")
    proj = _project(tmp_path / "esp", ESP32_INI)
    t0 = time.monotonic()
    r = run_cli("build", str(proj), env={"TINYML_CACHE": str(tmp_path / "cache")})
    assert time.monotonic() - t0 < 5.0
    assert r.returncode == EXIT_CODES[ErrorKind.OFFLINE] and "pio pkg install" in r.stderr


def test_build_of_a_missing_directory(run_cli, tmp_path):
    r = run_cli("build", str(tmp_path / "nope"))
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT] and "does not exist" in r.stderr
    assert "Traceback" not in r.stderr


def test_build_of_a_directory_without_platformio_ini(run_cli, tmp_path):
    (tmp_path / "empty").mkdir()
    r = run_cli("build", str(tmp_path / "empty"))
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT] and "platformio.ini" in r.stderr


def test_flash_real_board_without_port_fails_before_building(run_cli, tmp_path):
    proj = _project(tmp_path / "uno", "[env:uno]\nplatform = atmelavr\nboard = uno\nframework = arduino\n",
                    board="uno")
    t0 = time.monotonic()
    r = run_cli("flash", str(proj), env={"TINYML_CACHE": str(tmp_path / "cache"), "TINYML_OFFLINE": "1"})
    assert r.returncode == EXIT_CODES[ErrorKind.DEVICE], r.stderr
    assert "--port" in r.stderr and "Traceback" not in r.stderr
    assert time.monotonic() - t0 < 10.0
    assert not (proj / ".pio").exists()  # nothing was built


def test_flash_virtual_board_without_qemu_on_path(run_cli, tmp_path):
    proj = _project(tmp_path / "q", QEMU_INI, board="qemu-mps2-an386")
    r = run_cli("flash", str(proj), env={"PATH": str(tmp_path / "empty-bin"), "TINYML_CACHE": str(tmp_path / "c")})
    assert r.returncode == EXIT_CODES[ErrorKind.TOOL], r.stderr
    assert "qemu-system-arm" in r.stderr and "apt install qemu-system-arm" in r.stderr
    assert "Traceback" not in r.stderr


def test_flash_model_without_board_is_a_usage_error(run_cli, tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"not really a model")
    r = run_cli("flash", str(model))
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE] and "--board" in r.stderr


def test_flash_project_for_another_board_is_refused(run_cli, tmp_path):
    proj = _project(tmp_path / "q", QEMU_INI, board="qemu-mps2-an386")
    r = run_cli("flash", str(proj), "--board", "qemu-lm3s6965evb")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE] and "generated for qemu-mps2-an386" in r.stderr


def test_stop_when_nothing_runs(run_cli, tmp_path):
    (tmp_path / "p").mkdir()
    r = run_cli("stop", str(tmp_path / "p"))
    assert r.returncode == 0 and "no virtual board is running" in r.stdout
    r = run_cli("stop", str(tmp_path / "missing"))
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT]


def test_stop_ignores_a_stale_pid_that_is_not_qemu(tmp_path):
    from tinyml.build import qemu

    state = tmp_path / ".tinyml"
    state.mkdir()
    # pid 1 exists but is not QEMU: stop must not signal it
    (state / "qemu.json").write_text(json.dumps({"pid": 1, "port": 1, "url": "socket://127.0.0.1:1"}))
    assert qemu.stop(tmp_path) is None
    assert not (state / "qemu.json").exists()


def test_generate_unknown_board(run_cli, tmp_path):
    r = run_cli("generate", str(tmp_path / "m.tflite"), "--board", "nope")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE] and "unknown board 'nope'" in r.stderr


def test_generate_engine_the_board_lacks(run_cli, tmp_path):
    r = run_cli("generate", str(tmp_path / "m.tflite"), "--board", "uno", "--engine", "tflm")
    assert r.returncode == EXIT_CODES[ErrorKind.UNSUPPORTED]
    assert "does not support the tflm engine" in r.stderr and "Traceback" not in r.stderr


def test_generate_tflm_on_a_virtual_board_is_unsupported(run_cli, tmp_path):
    r = run_cli("generate", str(tmp_path / "m.tflite"), "--board", "qemu-mps2-an386", "--engine", "tflm")
    assert r.returncode == EXIT_CODES[ErrorKind.UNSUPPORTED]


def test_flash_virtual_board_on_a_busy_port(run_cli, tmp_path):
    import shutil
    import socket

    if shutil.which("qemu-system-arm") is None or shutil.which("arm-none-eabi-gcc") is None:
        pytest.skip("needs qemu-system-arm and arm-none-eabi-gcc")
    proj = _project(tmp_path / "q", QEMU_INI, board="qemu-mps2-an386")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = run_cli("flash", str(proj), "--port", f"socket://127.0.0.1:{port}")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE] and f"TCP port {port} is already in use" in r.stderr
    r = run_cli("flash", str(proj), "--port", "/dev/ttyUSB0")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE] and "not a local TCP port" in r.stderr


def test_flash_esp32_offline_with_a_port_fails_fast(run_cli, tmp_path):
    proj = _project(tmp_path / "esp", ESP32_INI, board="esp32dev")
    t0 = time.monotonic()
    r = run_cli("flash", str(proj), "--port", "/dev/ttyUSB0",
                env={"TINYML_CACHE": str(tmp_path / "cache"), "TINYML_OFFLINE": "1"})
    assert r.returncode == EXIT_CODES[ErrorKind.OFFLINE], r.stderr
    assert time.monotonic() - t0 < 5.0 and "pio pkg install -d" in r.stderr


def test_build_virtual_board_without_the_cross_compiler(run_cli, tmp_path):
    proj = _project(tmp_path / "q", QEMU_INI, board="qemu-mps2-an386")
    r = run_cli("build", str(proj), env={"PATH": str(tmp_path / "empty-bin"), "TINYML_CACHE": str(tmp_path / "c")})
    assert r.returncode == EXIT_CODES[ErrorKind.TOOL], r.stderr
    assert "arm-none-eabi-gcc" in r.stderr and "apt install gcc-arm-none-eabi" in r.stderr
