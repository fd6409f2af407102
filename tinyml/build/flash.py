"""``tinyml build`` and ``tinyml flash``: PlatformIO builds and uploads, real or virtual boards.

A virtual board is flashed through PlatformIO's own upload target (the tinyml-qemu platform
starts QEMU in the background), the same code path as a real board; the serial URL lands in
``DIR/.tinyml/port`` for ``tinyml monitor``. Everything a user can get wrong is checked before
the slow part: the board, the tools on PATH (QEMU, the cross compiler), the upload port, and
whether PlatformIO would need the registry.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml.boards import Board, get_board
from tinyml.build import pio, qemu
from tinyml.errors import ErrorKind, TinymlError


@dataclass
class BuildResult:
    project: Path
    board: str | None
    firmware: Path | None
    usage: list[str]  # PlatformIO's "RAM: ..." and "Flash: ..." lines

    def to_dict(self) -> dict[str, Any]:
        return {"project": str(self.project), "board": self.board,
                "firmware": str(self.firmware) if self.firmware else None, "usage": self.usage}


@dataclass
class FlashResult:
    project: Path
    board: str
    virtual: bool
    port: str
    pid: int | None = None
    command: list[str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"project": str(self.project), "board": self.board, "virtual": self.virtual, "port": self.port,
                "pid": self.pid, "command": self.command}


def project_board(project: Path, boards_dir: str | Path | None = None) -> Board | None:
    """The board a tinyml project was generated for (None for a plain PlatformIO project)."""
    manifest = project / "tinyml.json"
    if not manifest.is_file():
        return None
    try:
        board_id = json.loads(manifest.read_text(encoding="utf-8"))["board"]
    except (ValueError, KeyError) as exc:
        raise TinymlError(f"{manifest} is not a valid tinyml manifest", hint="regenerate the project with --force",
                          kind=ErrorKind.INPUT) from exc
    return get_board(str(board_id), boards_dir)


def _check_project_dir(project: Path) -> Path:
    if project.is_file():
        raise TinymlError(f"{project} is a file, not a project directory",
                          hint="pass the directory `tinyml generate` wrote (or `tinyml flash MODEL.tflite --board B`)",
                          kind=ErrorKind.INPUT)
    if not project.is_dir():
        raise TinymlError(f"project directory {project} does not exist",
                          hint="generate one with: tinyml generate MODEL.tflite --board BOARD -o DIR",
                          kind=ErrorKind.INPUT)
    pio.read_project(project)  # a platformio.ini with an env, or a clear error
    return project.resolve()


def _usage(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if re.match(r"^\s*(RAM|Flash):", line)]


def build(project: str | Path, *, boards_dir: str | Path | None = None) -> BuildResult:
    """``pio run`` in a project (offline-safe); the firmware path and its memory use."""
    root = _check_project_dir(Path(project))
    board = project_board(root, boards_dir)
    if board is not None and board.virtual:
        qemu.require_cross_compiler(board)
    res = pio.run_pio(root, what="pio run (build)")
    return BuildResult(root, board.id if board else None, pio.program_path(root), _usage(res.stdout))


def _cached_project(model_path: Path, board: Board, engine: str | None, boards_dir: str | Path | None) -> Path:
    """Generate MODEL for BOARD into the tinyml cache (reused while model, board, engine, version match)."""
    from tinyml import __version__
    from tinyml.codegen.project import check_engine, create_project
    from tinyml.model.tflite import load

    chosen = check_engine(board, engine)
    model = load(model_path)
    dest = pio.cache_dir() / "projects" / f"{model_path.stem}-{model.sha256[:12]}-{board.id}-{chosen}"
    manifest = dest / "tinyml.json"
    if manifest.is_file():
        try:
            m = json.loads(manifest.read_text(encoding="utf-8"))
            if (m.get("model", {}).get("sha256"), m.get("board"), m.get("engine"), m.get("tinyml_version")) == (
                    model.sha256, board.id, chosen, __version__):
                return dest
        except ValueError:
            pass
    dest.parent.mkdir(parents=True, exist_ok=True)
    create_project(model_path, board.id, dest, engine=chosen, force=True, boards_dir=boards_dir)
    return dest


def flash(target: str | Path, *, board: str | None = None, port: str | None = None, engine: str | None = None,
          boards_dir: str | Path | None = None, use_esptool: bool = False) -> FlashResult:
    """Build if needed and upload. ``target`` is a project directory or a .tflite model (then
    ``board`` is required and the project is generated into the tinyml cache)."""
    path = Path(target)
    if path.is_file() and path.suffix == ".tflite":
        if board is None:
            raise TinymlError("flashing a model needs the board", hint=f"tinyml flash {path} --board BOARD "
                              "(see tinyml boards)", kind=ErrorKind.USAGE)
        b = get_board(board, boards_dir)
        if b.virtual:
            qemu.require_emulator(b)
        project = _cached_project(path, b, engine, boards_dir)
    elif path.is_dir():
        project = _check_project_dir(path)
        found = project_board(project, boards_dir)
        if found is None and board is None:
            raise TinymlError(f"{project} has no tinyml.json, so its board is unknown", hint="pass --board BOARD",
                              kind=ErrorKind.USAGE)
        b = get_board(board, boards_dir) if board else found  # type: ignore[assignment]
        if found is not None and board is not None and found.id != board:
            raise TinymlError(f"{project} was generated for {found.id}, not {board}",
                              hint=f"regenerate it with --board {board}, or drop --board", kind=ErrorKind.USAGE)
    elif path.exists():
        raise TinymlError(f"{path} is neither a project directory nor a .tflite model",
                          hint="pass the directory `tinyml generate` wrote, or MODEL.tflite --board BOARD",
                          kind=ErrorKind.INPUT)
    else:
        raise TinymlError(f"{path} does not exist", hint="pass a project directory or a .tflite model",
                          kind=ErrorKind.INPUT)
    assert b is not None
    if use_esptool:
        return _flash_esptool(project, b, port)
    if b.virtual:
        return _flash_virtual(project, b, port)
    return _flash_device(project, b, port)


def _flash_virtual(project: Path, board: Board, port: str | None) -> FlashResult:
    qemu.require_emulator(board)
    qemu.require_cross_compiler(board)
    upload_port = None
    if port:
        if not re.fullmatch(r"(socket://)?(127\.0\.0\.1|localhost)?:?\d{1,5}", port):
            raise TinymlError(f"--port {port} is not a local TCP port for a virtual board",
                              hint="pass socket://127.0.0.1:PORT or just PORT", kind=ErrorKind.USAGE)
        upload_port = f"socket://127.0.0.1:{port.rsplit(':', 1)[-1]}"
    qemu.stop(project)  # re-flashing: the previous instance frees its port first
    if upload_port and not _tcp_port_free(int(upload_port.rsplit(":", 1)[-1])):
        raise TinymlError(f"TCP port {upload_port.rsplit(':', 1)[-1]} is already in use",
                          hint="choose another --port, or omit it for a free one", kind=ErrorKind.USAGE)
    try:
        pio.run_pio(project, ["upload"], upload_port=upload_port, what="pio run -t upload (start the virtual board)")
    except KeyboardInterrupt:
        qemu.stop(project)  # interrupted after the emulator came up: no board left running unasked
        raise
    state = qemu.read_state(project)
    if state is None:
        raise TinymlError(f"PlatformIO's upload finished but no virtual board runs for {project}",
                          hint=f"see the emulator's log in {project / '.tinyml'}", kind=ErrorKind.TOOL)
    return FlashResult(project, board.id, True, state.url, state.pid, state.argv)


def _flash_esptool(project: Path, board: Board, port: str | None) -> FlashResult:
    """Write the prebuilt image in .pio/build/<env> with esptool: no PlatformIO, no registry."""
    from tinyml.build.esptool import esptool_argv, write_image
    from tinyml.serial.ports import autodetect

    envs = pio.read_project(project)
    build_dir = project / ".pio" / "build" / envs[0].name
    esptool_argv(board, build_dir, port or "PORT")  # board and images checked before the port
    chosen = port or autodetect(board.id)
    argv = write_image(board, build_dir, chosen)
    state = project / ".tinyml"
    state.mkdir(exist_ok=True)
    (state / "port").write_text(chosen + "\n", encoding="utf-8")
    return FlashResult(project, board.id, False, chosen, command=argv)


def _tcp_port_free(port: int) -> bool:
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _flash_device(project: Path, board: Board, port: str | None) -> FlashResult:
    from tinyml.serial.ports import autodetect

    chosen = port or autodetect(board.id)  # before the build: a missing board is the user's first problem
    pio.run_pio(project, ["upload"], upload_port=chosen, what="pio run -t upload")
    state = project / ".tinyml"
    state.mkdir(exist_ok=True)
    (state / "port").write_text(chosen + "\n", encoding="utf-8")
    return FlashResult(project, board.id, False, chosen)
