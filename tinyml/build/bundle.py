"""Firmware bundles: one zip with a built project's image(s), manifest and flash offsets.

``tinyml build DIR --bundle`` writes it; ``tinyml flash --bundle FILE.zip --port P`` writes it to
a board without PlatformIO or a compiler (a bench rig, a hobbyist without a toolchain):

- ESP32: esptool writes bootloader, partition table, app and (tflm) the model partition at the
  offsets in ``bundle.json``, chip checked first (``--chip``);
- virtual boards: the emulator (QEMU, or the simavr Uno bridge) starts from the bundle's ELF,
  exactly as PlatformIO's upload target would, so the path is tested end to end in CI;
- the Uno: avrdude writes ``firmware.hex`` (the command is in ``bundle.json``); other boards:
  the images are there, with the board's usual upload tool named.

Layout (deterministic: sorted entries, fixed 1980-01-01 timestamps, fixed modes)::

    bundle.json       format, board, engine, model sha256, images [{file, offset, bytes, sha256}]
    tinyml.json       the project's manifest
    images/<file>     bootloader.bin, partitions.bin, firmware.bin, model.bin | firmware.elf/.hex/.bin
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml import runner
from tinyml.boards import Board, get_board
from tinyml.build import partitions, pio
from tinyml.errors import ErrorKind, TinymlError

FORMAT = 1
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
AVRDUDE_ARGS = ["-p", "atmega328p", "-c", "arduino", "-b", "115200", "-D"]


@dataclass
class Bundle:
    path: Path
    info: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"bundle": str(self.path), **self.info}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _no_build(project: Path, build_dir: Path, missing: str) -> TinymlError:
    return TinymlError(f"{project} has no build to bundle ({missing} missing in {build_dir})",
                       hint="build it first (`tinyml build DIR`, or `pio run` on a machine with the platform, "
                            "then copy .pio/build here)", kind=ErrorKind.INPUT)


def collect_images(project: Path, manifest: dict[str, Any], board: Board) -> tuple[list[dict[str, Any]],
                                                                                  dict[str, bytes]]:
    """(image entries, {file name: bytes}) of a built project."""
    envs = pio.read_project(project)
    build_dir = project / ".pio" / "build" / envs[0].name
    files: dict[str, bytes] = {}
    entries: list[dict[str, Any]] = []

    def add(name: str, data: bytes, offset: int | None) -> None:
        files[name] = data
        entries.append({"file": f"images/{name}", "offset": offset, "bytes": len(data), "sha256": _sha(data)})

    if partitions.is_esp32(board):
        chip, boot = partitions.CHIPS[board.arch]
        esp = manifest.get("esp32") or {}
        for name in ("bootloader.bin", "partitions.bin", "firmware.bin"):
            if not (build_dir / name).is_file():
                raise _no_build(project, build_dir, name)
        add("bootloader.bin", (build_dir / "bootloader.bin").read_bytes(), boot)
        add("partitions.bin", (build_dir / "partitions.bin").read_bytes(), partitions.PARTITION_TABLE_OFFSET)
        add("firmware.bin", (build_dir / "firmware.bin").read_bytes(), int(esp.get("app_offset", 0x10000)))
        if esp.get("model_partition"):
            add("model.bin", project_model_image(project, manifest), int(esp["model_partition"]["offset"]))
        return entries, files
    found = False
    for name in ("firmware.elf", "firmware.hex", "firmware.bin"):
        if (build_dir / name).is_file():
            add(name, (build_dir / name).read_bytes(), None)
            found = True
    if not found:
        raise _no_build(project, build_dir, "firmware.elf/.hex/.bin")
    if board.virtual and "firmware.elf" not in files:
        raise _no_build(project, build_dir, "firmware.elf")
    return entries, files


def project_model_image(project: Path, manifest: dict[str, Any], model_path: Path | None = None) -> bytes:
    """The ``model`` partition image of the project's model (or of ``model_path``)."""
    from tinyml.model.tflite import load

    path = model_path or project / manifest["model"].get("file", "model.tflite")
    model = load(path)
    arena = int(manifest["arena_bytes"]) if model_path is None else required_arena(model.raw)
    return partitions.model_image(model.raw, name=Path(path).stem if model_path else manifest["model"]["name"],
                                  sha256=model.sha256, arena_bytes=arena)


def required_arena(raw: bytes) -> int:
    """The arena a generated project would give this model (host-measured minimum + margin)."""
    from tinyml.codegen.project import tflm_arena
    from tinyml.model.arena import measure_arena

    return tflm_arena(measure_arena(raw))[0]


def _zip_bytes(entries: dict[str, bytes]) -> bytes:
    import io

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name in sorted(entries):
            zi = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(zi, entries[name], compresslevel=9)
    return buf.getvalue()


def make_bundle(project: str | Path, out: str | Path | None = None, *,
                boards_dir: str | Path | None = None) -> Bundle:
    """Zip the built images of ``project`` (no build here: see ``tinyml build --bundle``)."""
    from tinyml.codegen.project import read_manifest
    from tinyml.writer import write_file

    root = Path(project)
    manifest = read_manifest(root)
    board = get_board(str(manifest["board"]), boards_dir)
    entries, files = collect_images(root, manifest, board)
    info: dict[str, Any] = {
        "format": FORMAT, "tinyml_version": manifest.get("tinyml_version"), "board": board.id, "arch": board.arch,
        "virtual": board.virtual, "engine": manifest.get("engine"), "model": manifest.get("model"),
        "images": entries,
    }
    if partitions.is_esp32(board):
        chip, _ = partitions.CHIPS[board.arch]
        info["esp32"] = {"chip": chip, "flash_command": "python -m esptool --chip " + chip + " --port PORT "
                         "write-flash -z " + " ".join(f"{hex(e['offset'])} {e['file']}" for e in
                                                      sorted(entries, key=lambda e: e["offset"]))}
    elif board.arch == "avr":
        info["avrdude_command"] = ("avrdude " + " ".join(AVRDUDE_ARGS) + " -P PORT -U flash:w:images/firmware.hex:i"
                                   if "firmware.hex" in files else None)
    content = {f"images/{k}": v for k, v in files.items()}
    content["bundle.json"] = (json.dumps(info, indent=2, sort_keys=True) + "\n").encode()
    content["tinyml.json"] = (root / "tinyml.json").read_bytes()
    dest = Path(out) if out is not None else root / f"{root.resolve().name}-{board.id}-bundle.zip"
    write_file(dest, _zip_bytes(content))
    return Bundle(dest, info)


def read_bundle(path: str | Path) -> tuple[dict[str, Any], zipfile.ZipFile]:
    p = Path(path)
    if not p.is_file():
        raise TinymlError(f"bundle {p} does not exist", hint="write one with: tinyml build DIR --bundle",
                          kind=ErrorKind.INPUT)
    try:
        zf = zipfile.ZipFile(p)
        info = json.loads(zf.read("bundle.json"))
    except (zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise TinymlError(f"{p} is not a tinyml firmware bundle ({type(exc).__name__})",
                          hint="write one with: tinyml build DIR --bundle", kind=ErrorKind.INPUT) from exc
    if info.get("format") != FORMAT:
        raise TinymlError(f"{p} has bundle format {info.get('format')}, this tinyml reads {FORMAT}",
                          hint="rebuild the bundle with this tinyml version", kind=ErrorKind.INPUT)
    for e in info["images"]:
        data = zf.read(e["file"])
        if _sha(data) != e["sha256"]:
            raise TinymlError(f"{p}: {e['file']} does not match its sha256 (damaged bundle)",
                              hint="copy the bundle again", kind=ErrorKind.INPUT)
    return info, zf


def extract(path: str | Path, zf: zipfile.ZipFile) -> Path:
    """The bundle unpacked into the tinyml cache (keyed by its hash): the emulator's project dir."""
    digest = _sha(Path(path).read_bytes())[:16]
    dest = pio.cache_dir() / "bundles" / digest
    if not (dest / "bundle.json").is_file():
        tmp = dest.with_name(f".{digest}.{os.getpid()}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        zf.extractall(tmp)
        shutil.rmtree(dest, ignore_errors=True)
        tmp.rename(dest)
    return dest


def flash_bundle(path: str | Path, *, port: str | None = None, board: str | None = None,
                 boards_dir: str | Path | None = None) -> Any:
    """Write a bundle to a board (or start a virtual board from it); returns a FlashResult."""
    from tinyml.build.esptool import run_esptool, write_flash_argv
    from tinyml.build.flash import FlashResult

    info, zf = read_bundle(path)
    b = get_board(str(info["board"]), boards_dir)
    if board is not None and board != b.id:
        raise TinymlError(f"the bundle was built for {b.id}, not {board}",
                          hint=f"drop --board, or build a bundle for {board}", kind=ErrorKind.USAGE)
    root = extract(path, zf)
    if b.virtual:
        return _start_virtual(root, b, info, port)
    if partitions.is_esp32(b):
        from tinyml.serial.ports import autodetect

        chosen = port or autodetect(b.id)
        images = [(int(e["offset"]), root / e["file"]) for e in info["images"]]
        argv = write_flash_argv(info["esp32"]["chip"], chosen, images)
        run_esptool(argv, chosen)
        return FlashResult(root, b.id, False, chosen, command=argv)
    if b.arch == "avr" and info.get("avrdude_command"):
        from tinyml.serial.ports import autodetect

        avrdude = runner.require_tool("avrdude", "install avrdude (sudo apt install avrdude), or flash "
                                      "images/firmware.hex with the Arduino IDE")
        chosen = port or autodetect(b.id)
        argv = [avrdude, *AVRDUDE_ARGS, "-P", chosen, "-U", f"flash:w:{root / 'images' / 'firmware.hex'}:i"]
        runner.run(argv, timeout=120, what="avrdude")
        return FlashResult(root, b.id, False, chosen, command=argv)
    raise TinymlError(f"tinyml cannot write a bundle to {b.id} without PlatformIO yet",
                      hint=f"its images are in {root / 'images'}; flash them with the board's tool "
                           f"({b.upload}), or use `tinyml flash PROJECT`", kind=ErrorKind.UNSUPPORTED)


# --------------------------------------------------------------------------- virtual boards

def _free_port(port: str | None) -> int:
    if port:
        tail = port.rsplit(":", 1)[-1]
        if not tail.isdigit():
            raise TinymlError(f"--port {port} is not a local TCP port for a virtual board",
                              hint="pass socket://127.0.0.1:PORT or just PORT", kind=ErrorKind.USAGE)
        return int(tail)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _platform_board(b: Board) -> dict[str, Any]:
    from tinyml.resources import resource_dir

    path = resource_dir("firmware") / "platforms" / b.pio_platform / "boards" / f"{b.pio_board}.json"
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["build"]
    return data


def _simavr_bridge() -> Path:
    from tinyml.build.qemu import SIMAVR_HINT
    from tinyml.resources import resource_dir

    src = resource_dir("firmware") / "platforms" / "tinyml-simavr" / "bridge" / "simavr_uart_bridge.c"
    out = pio.cache_dir() / "simavr" / f"simavr-uart-bridge-{_sha(src.read_bytes())[:12]}"  # shared with the platform
    if out.is_file():
        return out
    gcc = runner.require_tool("gcc", SIMAVR_HINT)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.{os.getpid()}.tmp")
    runner.run([gcc, "-O2", "-Wall", "-Wextra", "-I/usr/include/simavr", src, "-o", tmp, "-lsimavr", "-lelf"],
               what="building the simavr UART bridge")
    tmp.replace(out)
    return out


def _start_virtual(root: Path, b: Board, info: dict[str, Any], port: str | None) -> Any:
    """Start the emulator on the bundle's ELF with the command the board's platform uses, and
    leave the same state files (``tinyml monitor/stop DIR`` work on the unpacked bundle)."""
    from tinyml.build import qemu
    from tinyml.build.flash import FlashResult

    qemu.require_emulator(b)
    qemu.stop(root)
    elf = root / "images" / "firmware.elf"
    build = _platform_board(b)
    state_dir = root / ".tinyml"
    state_dir.mkdir(exist_ok=True)
    simavr = b.pio_platform == qemu.SIMAVR_PLATFORM
    log_path = state_dir / ("simavr.log" if simavr else "qemu.log")
    if simavr:
        tcp = _free_port(port) if port else 0
        argv = [str(_simavr_bridge()), str(elf), "--port", str(tcp), "--mcu", str(build.get("mcu", "atmega328p")),
                "--freq", str(build.get("f_cpu", "16000000L")).rstrip("L")]
        ready = "listening on 127.0.0.1:"
    else:
        tcp = _free_port(port)
        argv = [qemu.require_qemu(), "-M", str(build["qemu_machine"]), "-kernel", str(elf), "-display", "none",
                "-monitor", "none", "-parallel", "none",
                "-serial", f"tcp:127.0.0.1:{tcp},server=on,wait=on,nodelay=on",
                "-icount", f"shift={int(build.get('icount_shift', 5))}",
                "-semihosting-config", "enable=on,target=native"]
        ready = "waiting for connection"
    with open(log_path, "wb") as log:
        proc = runner.popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True, close_fds=True)
    deadline = time.monotonic() + 10
    found = False
    while time.monotonic() < deadline and not found:
        if proc.poll() is not None:
            break
        for line in log_path.read_text(errors="replace").splitlines():
            if ready in line:
                found = True
                if simavr:
                    tcp = int(line.rsplit(":", 1)[1])
        time.sleep(0.02)
    if not found:
        if proc.poll() is None:
            proc.terminate()
        raise TinymlError(f"the emulator for {b.id} did not start: {log_path.read_text(errors='replace')[-300:]}",
                          hint="run `tinyml -v flash --bundle ...` to see the exact command", kind=ErrorKind.TOOL)
    url = f"socket://127.0.0.1:{tcp}"
    state = {"pid": proc.pid, "port": tcp, "url": url, "machine": b.machine, "elf": str(elf), "argv": argv,
             "log": str(log_path)}
    (state_dir / ("simavr.json" if simavr else "qemu.json")).write_text(json.dumps(state, indent=2))
    (state_dir / "port").write_text(url + "\n")
    (state_dir / "board").write_text(b.id + "\n")
    return FlashResult(root, b.id, True, url, proc.pid, argv)
