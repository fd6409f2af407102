"""The ESP32 model partition, device side, compiled for the HOST: firmware/src/model_check.c against
partition images of real .tflite files (what `tinyml flash --model-only` writes), and the generated
tflm glue's partition path (find, mmap, check, fall back or refuse) with ESP-IDF/TFLM stand-ins."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from tinyml.build import partitions
from tinyml.model.tflite import _enum_names, load

pytestmark = [pytest.mark.codegen, pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc not installed")]

ROOT = Path(__file__).resolve().parents[2]
HOST = Path(__file__).resolve().parent / "model_partition_host"
CODES = {name: code for code, name in _enum_names("BuiltinOperator").items()}
SAN = ["-fsanitize=address,undefined", "-fno-sanitize-recover=all"]


@pytest.fixture(scope="module")
def checker(tmp_path_factory) -> Path:
    exe = tmp_path_factory.mktemp("mc") / "check"
    subprocess.run(["gcc", "-std=c11", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *SAN,
                    "-I", str(ROOT / "firmware" / "include"), str(ROOT / "firmware" / "src" / "model_check.c"),
                    str(HOST / "check_main.c"), "-o", str(exe)], check=True)
    return exe


def _ops(model) -> list[int]:
    return [CODES[op] for op in model.opcodes()]


def _run(checker: Path, image: bytes, tmp_path: Path, in_b: int, out_b: int, arena: int, ops: list[int]):
    f = tmp_path / "part.bin"
    f.write_bytes(image)
    r = subprocess.run([str(checker), str(f), str(in_b), str(out_b), str(arena), *map(str, ops)],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr  # no crash, no sanitizer report
    return dict(line.split("=", 1) for line in r.stdout.splitlines())


def _limits(model):
    return model.input_tensors()[0].nbytes, model.output_tensors()[0].nbytes


def _part(model, arena=2000, pad_to=0x20000, name="digits") -> bytes:
    img = partitions.model_image(model.raw, name=name, sha256=model.sha256, arena_bytes=arena)
    return img + b"\xff" * (pad_to - len(img))


@pytest.mark.parametrize("which", ["sine", "digits"])
def test_real_model_passes_and_reports_name_and_sha(checker, zoo, tmp_path, which):
    m = load(zoo[which])
    res = _run(checker, _part(m, name=which), tmp_path, *_limits(m), 4096, _ops(m))
    assert res["status"] == "0", res
    assert (res["name"], res["sha256"], int(res["model_bytes"])) == (which, m.sha256, m.size)


def test_refusals_name_the_reason(checker, zoo, tmp_path):
    d, s = load(zoo["digits"]), load(zoo["sine"])
    in_b, out_b = _limits(d)
    ok = _part(d)
    # an op the resolver lacks (digits needs CONV_2D; a sine firmware registers FULLY_CONNECTED only)
    res = _run(checker, ok, tmp_path, in_b, out_b, 4096, _ops(s))
    assert res["status"] == "7" and f"op {CODES['CONV_2D']} " in res["detail"]
    # I/O sizes of another model
    res = _run(checker, _part(s), tmp_path, in_b, out_b, 4096, _ops(d) + _ops(s))
    assert res["status"] == "8" and f"{s.input_tensors()[0].nbytes}/{s.output_tensors()[0].nbytes} B" in res["detail"]
    # arena
    res = _run(checker, _part(d, arena=5000), tmp_path, in_b, out_b, 4096, _ops(d))
    assert res["status"] == "9" and "5000 B arena" in res["detail"] and "4096" in res["detail"]
    # erased partition: the caller falls back to its built-in model
    assert _run(checker, b"\xff" * 4096, tmp_path, in_b, out_b, 4096, _ops(d))["status"] == "1"
    # ... and so does data from an earlier partition table (no TMLM magic)
    res = _run(checker, d.raw + bytes(4096), tmp_path, in_b, out_b, 4096, _ops(d))
    assert res["status"] == "1" and "no tinyml model" in res["detail"]
    # torn write: the CRC catches one flipped byte in the model
    bad = bytearray(ok)
    bad[partitions.HEADER_BYTES + 200] ^= 0x01
    assert _run(checker, bytes(bad), tmp_path, in_b, out_b, 4096, _ops(d))["status"] == "4"
    # the header claims more bytes than the partition holds
    res = _run(checker, ok[: partitions.HEADER_BYTES + d.size - 1], tmp_path, in_b, out_b, 4096, _ops(d))
    assert res["status"] == "3"
    # not a TFLite flatbuffer (valid header and CRC over other bytes)
    junk = partitions.model_image(b"\x10\0\0\0NOPE" + bytes(64), name="x", sha256="0" * 64, arena_bytes=1)
    assert _run(checker, junk, tmp_path, in_b, out_b, 4096, _ops(d))["status"] == "5"
    # format version
    v2 = bytearray(ok)
    v2[4] = 2
    assert _run(checker, bytes(v2), tmp_path, in_b, out_b, 4096, _ops(d))["status"] == "2"


def test_corrupt_flatbuffers_are_refused_without_crashing(checker, zoo, tmp_path):
    """Random byte damage in a real model (CRC recomputed, so only the flatbuffer walk stands
    between it and TFLM): never a crash or out-of-bounds read under ASan/UBSan."""
    d = load(zoo["digits"])
    in_b, out_b = _limits(d)
    rng = random.Random(8)
    statuses = set()
    for _ in range(40):
        raw = bytearray(d.raw)
        for _ in range(rng.randint(1, 6)):
            pos = rng.randrange(8, min(len(raw), 256)) if rng.random() < 0.7 else rng.randrange(8, len(raw))
            raw[pos] = rng.randrange(256)
        img = partitions.model_image(bytes(raw), name="fuzz", sha256=d.sha256, arena_bytes=100)
        statuses.add(_run(checker, img, tmp_path, in_b, out_b, 4096, _ops(d))["status"])
    assert statuses <= {"0", "6", "7", "8"}
    assert statuses - {"0"}  # some damage was seen (the walk is not a no-op)


@pytest.fixture(scope="module")
def glue(zoo, tmp_path_factory) -> tuple[Path, dict]:
    """The generated esp32dev tflm project's glue (src/model.cpp) + model_check.c, linked on the host."""
    if shutil.which("g++") is None:
        pytest.skip("g++ not installed")
    from tinyml.boards import get_board
    from tinyml.codegen.project import generate_project
    from tinyml.model.analysis import TFLM_RESOLVER
    from tinyml.writer import write_tree

    tmp = tmp_path_factory.mktemp("glue")
    files = generate_project(load(zoo["digits"]), get_board("esp32dev"), "tflm", name="digits",
                             tflm_arena_measured=2048)
    root = write_tree(tmp / "proj", files)
    stub = tmp / "stub"
    methods = "\n".join(f"  TM_ADD({m})" for m in sorted(set(TFLM_RESOLVER.values())))
    (stub / "tensorflow/lite/micro").mkdir(parents=True)
    (stub / "tensorflow/lite/schema").mkdir(parents=True)
    (stub / "esp_stubs.h").write_text((HOST / "esp_stubs.h.in").read_text().replace("%METHODS%", methods))
    for rel in ("tensorflow/lite/micro/micro_mutable_op_resolver.h", "tensorflow/lite/micro/micro_interpreter.h",
                "tensorflow/lite/schema/schema_generated.h", "Chirale_TensorFlowLite.h", "esp_partition.h",
                "esp_spi_flash.h"):
        (stub / rel).write_text('#pragma once\n#include "esp_stubs.h"\n')
    (stub / "esp_idf_version.h").write_text("#pragma once\n#define ESP_IDF_VERSION_MAJOR 4\n")
    exe = tmp / "glue"
    subprocess.run(["g++", "-std=gnu++17", "-O1", "-g", "-Wall", "-Wextra", "-Werror", *SAN, "-DESP32",
                    "-DTINYML_MODEL_PARTITION", "-x", "c++", "-I", str(stub), "-I", str(root / "include"),
                    str(root / "src" / "model.cpp"), str(root / "src" / "tinyml" / "model_check.c"),
                    str(HOST / "host_main.cpp"), "-o", str(exe)], check=True)
    return exe, json.loads(str(files["tinyml.json"]))


def _boot(exe: Path, partition: bytes | None, tmp_path: Path) -> dict[str, str]:
    env = {"ASAN_OPTIONS": "detect_leaks=0"}
    if partition is not None:
        (tmp_path / "model.part").write_bytes(partition)
        env["TINYML_TEST_PARTITION"] = str(tmp_path / "model.part")
    r = subprocess.run([str(exe)], capture_output=True, text=True, env=env, timeout=30)
    assert r.returncode == 0, r.stderr
    return dict(line.split("=", 1) for line in r.stdout.splitlines())


def test_glue_uses_the_partition_model_and_reports_it(glue, zoo, tmp_path):
    exe, manifest = glue
    d = load(zoo["digits"])
    res = _boot(exe, _part(d, arena=manifest["arena_bytes"], name="digits-v2"), tmp_path)
    assert (res["init"], res["source"], res["name"], res["sha256"]) == ("0", "partition", "digits-v2", d.sha256)
    assert int(res["mapped"]) == partitions.HEADER_BYTES + d.size  # not the whole partition


def test_glue_falls_back_to_the_built_in_model(glue, zoo, tmp_path):
    exe, manifest = glue
    for part in (None, b"\xff" * 0x20000, bytes(range(256)) * 512):  # no entry / erased / foreign data
        res = _boot(exe, part, tmp_path)
        assert (res["init"], res["source"], res["sha256"]) == ("0", "builtin", manifest["model"]["sha256"])
        assert res["mapped"] == "0"


def test_glue_refuses_a_bad_partition_and_says_why(glue, zoo, tmp_path):
    exe, manifest = glue
    s, d = load(zoo["sine"]), load(zoo["digits"])
    res = _boot(exe, _part(s, name="sine"), tmp_path)
    assert res["init"] != "0" and res["detail"].startswith("model partition refused: input/output are")
    res = _boot(exe, _part(d, arena=manifest["arena_bytes"] + 16), tmp_path)
    assert res["init"] != "0" and "arena" in res["detail"]
    assert res["sha256"] == manifest["model"]["sha256"]  # the refused model is not reported as running


# --------------------------------------------------------------------------- what the runtime reports

@pytest.fixture(scope="module")
def dyn_device(tmp_path_factory) -> Path:
    """The runtime on the host port with a fake engine using the tflm engine's dynamic-model API."""
    fw = ROOT / "firmware"
    exe = tmp_path_factory.mktemp("dyn") / "dyn-device"
    srcs = [fw / "src" / "runtime.c", fw / "src" / "protocol.c", fw / "ports" / "host" / "port.c",
            fw / "ports" / "host" / "main.c", HOST / "dyn" / "model_dyn.c"]
    subprocess.run(["gcc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1", "-I", str(HOST / "dyn"),
                    "-I", str(fw / "include"), "-I", str(ROOT / "tests" / "fixtures" / "fake_model"),
                    *map(str, srcs), "-o", str(exe)], check=True)
    return exe


def _boot_frames(exe: Path, monkeypatch, **env: str) -> list:
    import socket
    import sys

    from tinyml.serial.codec import Frame, parse_frame

    sys.path.insert(0, str(ROOT / "tests" / "fixtures" / "fake_model"))
    from hostdev import HostDevice

    for k, v in env.items():
        monkeypatch.setenv(k, v)
    with HostDevice(exe, wait_for_client=True) as dev, socket.create_connection(("127.0.0.1", dev.port), 10) as s:
        s.settimeout(10)
        data = b""
        while b"m-init-done" not in data:
            chunk = s.recv(4096)
            assert chunk, data
            data += chunk
    frames = [parse_frame(line.rstrip(b"\r")) for line in data.split(b"\n") if line.startswith(b"@")]
    assert all(isinstance(f, Frame) for f in frames), frames
    return frames


def test_hello_reports_the_partition_model(dyn_device, monkeypatch):
    from tinyml.serial.codec import parse_hello

    frames = _boot_frames(dyn_device, monkeypatch, TINYML_TEST_SHA="ab" * 32, TINYML_TEST_INIT_DETAIL="")
    hello = parse_hello(frames[0].payload)
    assert (hello.model, hello.sha256, hello.fields["model_src"], hello.init_ok) == (
        "digits-v2", "ab" * 32, "partition", True)
    assert [f.type for f in frames] == ["H"]


def test_refused_model_is_reported_with_its_reason(dyn_device, monkeypatch):
    from tinyml.serial.codec import parse_ack, parse_hello

    reason = "model partition refused: op 3 (BuiltinOperator) is not in the firmware's op resolver"
    frames = _boot_frames(dyn_device, monkeypatch, TINYML_TEST_SHA="cd" * 32, TINYML_TEST_INIT_DETAIL=reason)
    hello = parse_hello(frames[0].payload)
    assert (hello.init_ok, hello.fields["model_src"]) == (False, "builtin")
    ack = parse_ack(frames[1].payload)
    assert (frames[1].type, ack.req, ack.code, ack.message) == ("A", 0xFFFF, 7, "tinyml_init failed: " + reason)
