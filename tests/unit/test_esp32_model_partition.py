"""ESP32 host side, offline: the partition table, `tinyml flash --model-only` (checks, exact esptool
command, missing port) and ESP32 firmware bundles (layout, determinism, esptool command, errors)."""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path

import pytest

from tinyml.boards import all_boards, get_board
from tinyml.build import partitions
from tinyml.errors import EXIT_CODES, ErrorKind, TinymlError

pytestmark = pytest.mark.unit

ESP32 = ["esp32dev", "esp32-s3-devkitc-1"]


def _esptool_argv(chip: str, port: str, pairs: list[tuple[int, Path]]) -> list[str]:
    argv = [sys.executable, "-m", "esptool", "--chip", chip, "--port", port, "--baud", "460800",
            "--before", "default-reset", "--after", "hard-reset", "write-flash", "-z"]
    for off, p in pairs:
        argv += [hex(off), str(p)]
    return argv


# --------------------------------------------------------------------------- partition table

@pytest.mark.parametrize("board", ESP32)
@pytest.mark.parametrize("model_bytes", [2_000, 150_000, 1_000_000])
def test_layout_is_aligned_ordered_and_fits(board, model_bytes):
    b = get_board(board)
    parts = partitions.layout(b, model_bytes)
    assert [p.name for p in parts] == ["nvs", "phy_init", "factory", "model"]
    assert parts[0].offset >= partitions.PARTITION_TABLE_OFFSET + 0x1000  # the table's own sector
    for a, nxt in zip(parts, parts[1:], strict=False):
        assert a.offset + a.size <= nxt.offset
    for p in parts:
        assert p.offset % partitions.SECTOR == 0 and p.size % partitions.SECTOR == 0
    app, model = parts[2], parts[3]
    assert app.offset % partitions.PAGE == 0 and app.size >= b.flash_bytes
    assert model.offset % partitions.PAGE == 0 and model.size % partitions.PAGE == 0
    image = partitions.HEADER_BYTES + model_bytes
    assert model.size >= image + partitions.HEADROOM_MIN and model.size >= 2 * image
    assert model.offset + model.size <= partitions.flash_chip_bytes(b) == b.extra["flash_chip_bytes"]
    assert partitions.parse_csv(partitions.render_csv(parts, "banner")) == parts


def test_model_too_big_for_the_partition_space():
    with pytest.raises(TinymlError) as exc:
        partitions.layout(get_board("esp32dev"), 1_500_000)
    assert exc.value.kind == ErrorKind.DOES_NOT_FIT and "partition" in exc.value.message


def test_only_esp32_boards_have_a_partition_table():
    boards = all_boards()
    for b in (boards.values() if isinstance(boards, dict) else boards):
        assert partitions.is_esp32(b) == b.arch.startswith("xtensa")
    with pytest.raises(TinymlError) as exc:
        partitions.layout(get_board("nano33ble"), 1000)
    assert exc.value.kind == ErrorKind.UNSUPPORTED


def test_model_image_header_round_trip():
    raw = bytes(range(256)) * 3
    img = partitions.model_image(raw, name="kws", sha256="ab" * 32, arena_bytes=12345)
    h = partitions.parse_model_image(img)
    assert img[partitions.HEADER_BYTES:] == raw and len(img) == partitions.HEADER_BYTES + len(raw)
    import zlib

    assert h == {"magic": b"TMLM", "format": 1, "header_bytes": 128, "model_bytes": len(raw),
                 "crc32": zlib.crc32(raw), "arena_bytes": 12345, "name": "kws", "sha256": "ab" * 32}


# --------------------------------------------------------------------------- generated projects

@pytest.fixture(scope="module")
def projects(zoo, tmp_path_factory) -> dict[str, Path]:
    """esp32dev tflm projects for digits and sine, an esp32-s3 one, and an esp32dev aot one. The
    firmware arena is given (4 KB measured) rather than measured: the checks compare against it."""
    from tinyml.codegen.project import generate_project
    from tinyml.model.tflite import load
    from tinyml.writer import write_tree

    root = tmp_path_factory.mktemp("esp")
    out = {}
    for key, model, board, engine in (("digits", "digits", "esp32dev", "tflm"), ("sine", "sine", "esp32dev", "tflm"),
                                      ("s3", "digits", "esp32-s3-devkitc-1", "tflm"),
                                      ("aot", "digits", "esp32dev", "aot")):
        files = generate_project(load(zoo[model]), get_board(board), engine, name=model, tflm_arena_measured=4096)
        out[key] = write_tree(root / key, files)
    return out


def _manifest(p: Path) -> dict:
    return json.loads((p / "tinyml.json").read_text())


def test_generated_project_declares_its_partition_table(projects):
    p = projects["digits"]
    m = _manifest(p)
    parts = partitions.parse_csv((p / "partitions.csv").read_text())
    assert [x.to_dict() for x in parts] == m["esp32"]["partitions"]
    mp = partitions.model_partition(parts)
    assert m["esp32"]["model_partition"] == {"offset": mp.offset, "size": mp.size, "header_bytes": 128}
    assert mp.size >= partitions.HEADER_BYTES + m["model"]["bytes"]
    ini = (p / "platformio.ini").read_text()
    assert "board_build.partitions = partitions.csv" in ini and "-DTINYML_MODEL_PARTITION" in ini
    assert (p / "src" / "tinyml" / "model_check.c").is_file()
    assert m["tflm"]["resolver_ops"] == m["model"]["ops"] and len(m["tflm"]["resolver_codes"]) == len(m["model"]["ops"])
    assert (m["esp32"]["chip"], m["esp32"]["bootloader_offset"]) == ("esp32", 0x1000)
    assert (_manifest(projects["s3"])["esp32"]["chip"], _manifest(projects["s3"])["esp32"]["bootloader_offset"]) == (
        "esp32s3", 0)
    assert "extra_scripts = post:model_partition.py" in ini
    # the PlatformIO extra script (stdlib only) writes the same partition image tinyml does
    import runpy

    script = runpy.run_path(str(p / "model_partition.py"))
    assert script["env"] is None
    from tinyml.build.bundle import project_model_image

    assert script["model_image"](str(p)) == (mp.offset, project_model_image(p, m))
    aot = projects["aot"]
    assert not (aot / "partitions.csv").exists() and _manifest(aot)["esp32"] is None
    assert "partitions" not in (aot / "platformio.ini").read_text()


def _capture(monkeypatch) -> list[list[str]]:
    from tinyml import runner

    calls: list[list[str]] = []

    def fake_run(args, **kw):
        calls.append([str(a) for a in args])
        return runner.Result(calls[-1], 0, "", "")

    monkeypatch.setattr(runner, "run", fake_run)
    return calls


def _retrained(zoo, tmp_path) -> Path:
    """digits with other weights (one constant changed): same ops and I/O, another sha256."""
    from tinyml.model.tflite import load

    m = load(zoo["digits"])
    const = max((t for t in m.tensors if t.data is not None and t.dtype == "int8"), key=lambda t: t.data.size)
    blob = const.data.tobytes()
    at = m.raw.find(blob)
    assert at > 0
    raw = bytearray(m.raw)
    raw[at + 5] = (raw[at + 5] + 1) % 256
    out = tmp_path / "digits_v2.tflite"
    out.write_bytes(bytes(raw))
    return out


def test_model_only_writes_the_partition_with_the_exact_esptool_command(projects, zoo, tmp_path, monkeypatch):
    from tinyml.build.model_update import update_model
    from tinyml.model.tflite import load

    p = projects["digits"]
    m = _manifest(p)
    calls = _capture(monkeypatch)
    new = _retrained(zoo, tmp_path)
    res = update_model(p, model_path=new, port="/dev/ttyUSB0")
    image = p / ".tinyml" / "model.bin"
    assert calls == [_esptool_argv("esp32", "/dev/ttyUSB0", [(m["esp32"]["model_partition"]["offset"], image)])]
    assert res.command == calls[0]
    assert (p / ".tinyml" / "port").read_text().strip() == "/dev/ttyUSB0"
    hdr = partitions.parse_model_image(image.read_bytes())
    nm = load(new)
    assert (hdr["name"], hdr["sha256"], hdr["model_bytes"]) == ("digits_v2", nm.sha256, nm.size)
    assert hdr["sha256"] != m["model"]["sha256"] and hdr["arena_bytes"] <= m["arena_bytes"]
    assert image.read_bytes()[partitions.HEADER_BYTES:] == nm.raw
    # without --model: the project's own model, with the firmware's arena
    calls.clear()
    update_model(projects["s3"], port="/dev/ttyACM0")
    assert calls[0][calls[0].index("--chip") + 1] == "esp32s3"
    assert partitions.parse_model_image((projects["s3"] / ".tinyml" / "model.bin").read_bytes())["sha256"] == \
        _manifest(projects["s3"])["model"]["sha256"]


def test_model_only_refusals(projects, zoo, tmp_path, monkeypatch):
    from tinyml.build.model_update import update_model

    calls = _capture(monkeypatch)
    with pytest.raises(TinymlError) as exc:  # digits into a sine firmware: its resolver lacks CONV_2D
        update_model(projects["sine"], model_path=zoo["digits"], port="/dev/ttyUSB0")
    assert exc.value.kind == ErrorKind.UNSUPPORTED and "CONV_2D" in exc.value.message
    with pytest.raises(TinymlError) as exc:  # sine's ops are in digits' resolver, its I/O is not
        update_model(projects["digits"], model_path=zoo["sine"], port="/dev/ttyUSB0")
    assert exc.value.kind == ErrorKind.UNSUPPORTED and "input" in exc.value.message
    # the arena: a firmware built with a smaller one than this model needs
    small = tmp_path / "small"
    shutil.copytree(projects["digits"], small)
    m = _manifest(small)
    m["arena_bytes"] = 1024
    (small / "tinyml.json").write_text(json.dumps(m))
    with pytest.raises(TinymlError) as exc:
        update_model(small, model_path=zoo["digits"], port="/dev/ttyUSB0")
    assert exc.value.kind == ErrorKind.DOES_NOT_FIT and "1,024 B" in exc.value.message
    with pytest.raises(TinymlError) as exc:
        update_model(projects["aot"], port="/dev/ttyUSB0")
    assert exc.value.kind == ErrorKind.UNSUPPORTED and "no model partition" in exc.value.message
    assert calls == []  # nothing was written


def test_model_only_cli_errors(run_cli, projects, zoo):
    r = run_cli("flash", str(projects["digits"]), "--model", str(zoo["digits"]), "--port", "/dev/ttyUSB0")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE] and "--model-only" in r.stderr
    r = run_cli("flash", str(projects["sine"]), "--model-only", "--model", str(zoo["digits"]), "--port", "/dev/x")
    assert r.returncode == EXIT_CODES[ErrorKind.UNSUPPORTED] and "CONV_2D" in r.stderr
    assert "Traceback" not in r.stderr


def test_model_only_to_a_missing_port_is_one_clear_line(run_cli, projects):
    """esptool really runs: a port that is not there gives one line, fast, non-zero."""
    t0 = time.monotonic()
    r = run_cli("flash", str(projects["digits"]), "--model-only", "--port", "/dev/ttyUSB_tinyml_missing", timeout=60)
    assert time.monotonic() - t0 < 30
    assert r.returncode == EXIT_CODES[ErrorKind.TOOL], r.stderr
    assert "Could not open /dev/ttyUSB_tinyml_missing" in r.stderr and "Traceback" not in r.stderr
    error_lines = [line for line in r.stderr.splitlines() if line.startswith("error")]
    assert len(error_lines) == 1, r.stderr


# --------------------------------------------------------------------------- bundles

def _fake_build(project: Path, env: str) -> dict[str, bytes]:
    build = project / ".pio" / "build" / env
    build.mkdir(parents=True, exist_ok=True)
    images = {name: bytes([0xE9, i]) + bytes(range(256)) * (i + 1)
              for i, name in enumerate(("bootloader.bin", "partitions.bin", "firmware.bin"))}
    for name, data in images.items():
        (build / name).write_bytes(data)
    return images


def test_esp32_bundle_layout_and_determinism(run_cli, projects, tmp_path):
    p = tmp_path / "proj"
    shutil.copytree(projects["digits"], p)
    images = _fake_build(p, "esp32dev")
    m = _manifest(p)
    r = run_cli("build", str(p), "--bundle", "--prebuilt", "-o", str(tmp_path / "a.zip"))
    assert r.returncode == 0, r.stderr
    r = run_cli("build", str(p), "--bundle", "--prebuilt", "-o", str(tmp_path / "b.zip"), "--json")
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()
    zf = zipfile.ZipFile(tmp_path / "a.zip")
    names = zf.namelist()
    assert names == sorted(names) == ["bundle.json", "images/bootloader.bin", "images/firmware.bin",
                                      "images/model.bin", "images/partitions.bin", "tinyml.json"]
    assert all(i.date_time == (1980, 1, 1, 0, 0, 0) for i in zf.infolist())
    info = json.loads(zf.read("bundle.json"))
    offsets = {e["file"]: e["offset"] for e in info["images"]}
    assert offsets == {"images/bootloader.bin": 0x1000, "images/partitions.bin": 0x8000,
                       "images/firmware.bin": 0x10000, "images/model.bin": m["esp32"]["model_partition"]["offset"]}
    for name, data in images.items():
        assert zf.read(f"images/{name}") == data
    model_img = zf.read("images/model.bin")
    hdr = partitions.parse_model_image(model_img)
    assert (hdr["sha256"], hdr["arena_bytes"]) == (m["model"]["sha256"], m["arena_bytes"])
    assert model_img[128:] == (p / "model.tflite").read_bytes()
    assert json.loads(zf.read("tinyml.json")) == m and info["esp32"]["chip"] == "esp32"
    assert json.loads(r.stdout)["images"] == info["images"]


def test_esp32_bundle_flash_command_and_errors(run_cli, projects, tmp_path, monkeypatch):
    from tinyml.build.bundle import flash_bundle, make_bundle

    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    p = tmp_path / "proj"
    shutil.copytree(projects["s3"], p)
    _fake_build(p, "esp32-s3-devkitc-1")
    bundle = make_bundle(p, tmp_path / "s3.zip").path
    calls = _capture(monkeypatch)
    res = flash_bundle(bundle, port="rfc2217://rig:4000")
    root = res.project
    want = sorted((e["offset"], root / e["file"]) for e in json.loads((root / "bundle.json").read_text())["images"])
    assert want[0][0] == 0 and calls == [_esptool_argv("esp32s3", "rfc2217://rig:4000", want)]
    monkeypatch.undo()
    # the wrong board, a damaged image, not a bundle, a missing port
    r = run_cli("flash", "--bundle", str(bundle), "--board", "esp32dev", "--port", "/dev/x")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE] and "esp32-s3-devkitc-1" in r.stderr
    damaged = tmp_path / "damaged.zip"
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(damaged, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            dst.writestr(item, data[:-1] + b"\0" if item.filename == "images/firmware.bin" else data)
    r = run_cli("flash", "--bundle", str(damaged), "--port", "/dev/x")
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT] and "damaged" in r.stderr
    (tmp_path / "junk.zip").write_bytes(b"not a zip")
    r = run_cli("flash", "--bundle", str(tmp_path / "junk.zip"), "--port", "/dev/x")
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT] and "not a tinyml firmware bundle" in r.stderr
    t0 = time.monotonic()
    r = run_cli("flash", "--bundle", str(bundle), "--port", "/dev/ttyUSB_tinyml_missing",
                env={"TINYML_CACHE": str(tmp_path / "cache")}, timeout=60)
    assert r.returncode == EXIT_CODES[ErrorKind.TOOL] and "Could not open" in r.stderr
    assert time.monotonic() - t0 < 30 and "Traceback" not in r.stderr


def test_bundle_needs_a_build(run_cli, projects, tmp_path):
    r = run_cli("build", str(projects["aot"]), "--bundle", "--prebuilt")
    assert r.returncode == EXIT_CODES[ErrorKind.INPUT] and "no build to bundle" in r.stderr
    r = run_cli("build", str(projects["aot"]), "--prebuilt")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE]
    r = run_cli("flash")
    assert r.returncode == EXIT_CODES[ErrorKind.USAGE] and "nothing to flash" in r.stderr


def _board_project(root: Path, board: str, images: dict[str, bytes]) -> Path:
    build = root / ".pio" / "build" / board
    build.mkdir(parents=True)
    (root / "platformio.ini").write_text(f"[env:{board}]\nplatform = x\nboard = {board}\n")
    (root / "tinyml.json").write_text(json.dumps({"board": board, "engine": "aot", "model": {"name": "m"}}))
    for name, data in images.items():
        (build / name).write_bytes(data)
    return root


def test_uno_bundle_is_written_with_avrdude(tmp_path, monkeypatch):
    """A fake avrdude on PATH records its argv: the documented command, with the bundle's hex."""
    from tinyml.build.bundle import flash_bundle, make_bundle

    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    hexdata = b":00000001FF\n"
    proj = _board_project(tmp_path / "uno", "uno", {"firmware.hex": hexdata, "firmware.elf": b"\x7fELF"})
    bundle = make_bundle(proj, tmp_path / "uno.zip")
    assert bundle.info["avrdude_command"] == ("avrdude -p atmega328p -c arduino -b 115200 -D -P PORT "
                                              "-U flash:w:images/firmware.hex:i")
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "avrdude.args"
    (bindir / "avrdude").write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {log}\n")
    (bindir / "avrdude").chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    res = flash_bundle(bundle.path, port="/dev/ttyACM0")
    hexfile = res.project / "images" / "firmware.hex"
    assert log.read_text().splitlines() == ["-p", "atmega328p", "-c", "arduino", "-b", "115200", "-D", "-P",
                                            "/dev/ttyACM0", "-U", f"flash:w:{hexfile}:i"]
    assert hexfile.read_bytes() == hexdata


def test_bundle_for_a_board_without_a_writer_says_so(tmp_path, monkeypatch):
    from tinyml.build.bundle import flash_bundle, make_bundle

    monkeypatch.setenv("TINYML_CACHE", str(tmp_path / "cache"))
    proj = _board_project(tmp_path / "nano", "nano33ble", {"firmware.bin": b"\0" * 64, "firmware.elf": b"\x7fELF"})
    bundle = make_bundle(proj, tmp_path / "nano.zip")
    assert [e["file"] for e in bundle.info["images"]] == ["images/firmware.elf", "images/firmware.bin"]
    with pytest.raises(TinymlError) as exc:
        flash_bundle(bundle.path, port="/dev/ttyACM0")
    assert exc.value.kind == ErrorKind.UNSUPPORTED and "images" in (exc.value.hint or "")
