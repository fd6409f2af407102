"""Boards: one TOML file each under ``boards/`` (shipped), a project-local ``boards/`` or ``--boards-dir``.

A user adds a board by dropping a TOML file with the same keys in one of those places;
later places override earlier ones by id.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tinyml.errors import ErrorKind, TinymlError
from tinyml.resources import resource_dir

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

ENGINES = ("aot", "tflm")
ARCHS = ("cortex-m0plus", "cortex-m3", "cortex-m4", "cortex-m4f", "cortex-m7", "xtensa-lx6", "xtensa-lx7", "avr")


@dataclass(frozen=True)
class Board:
    id: str
    name: str
    arch: str  # one of ARCHS: picks the cross compiler flags and kernel variants
    flash_bytes: int  # usable for the application (after bootloader / partitions)
    ram_bytes: int  # usable for the application (static + heap + stack)
    engines: tuple[str, ...]
    pio_platform: str  # PlatformIO `platform =` (a registry name, or "tinyml-qemu" / "tinyml-simavr")
    pio_board: str
    pio_framework: str = ""  # "arduino", "espidf" or "" (bare metal)
    serial_baud: int = 115200
    upload: str = "pio"  # "pio", "esptool", "qemu", "simavr"
    virtual: bool = False
    machine: str | None = None  # QEMU machine / simavr mcu for virtual boards
    cpu_hz: int = 0
    usb_ids: tuple[str, ...] = ()  # "VID:PID" hex pairs for port auto-detection
    ram_reserved_bytes: int = 0  # RAM the runtime itself needs (stack, serial buffers, core)
    # Flash taken before any model: framework/core, startup, tinyml's device runtime (protocol,
    # port). Measured on the virtual boards (bench/flash_reserved.py); typical sizes elsewhere.
    flash_reserved_bytes: int = 0
    notes: str = ""
    source: str = ""  # file it was read from
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["engines"] = list(self.engines)
        d["usb_ids"] = list(self.usb_ids)
        return d


_REQUIRED = ("name", "arch", "flash_bytes", "ram_bytes", "engines", "pio_platform", "pio_board")


def _parse(path: Path) -> Board:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise TinymlError(f"board file {path} cannot be read: {exc}", hint="fix the TOML syntax",
                          kind=ErrorKind.INPUT) from exc
    missing = [k for k in _REQUIRED if k not in data]
    if missing:
        raise TinymlError(f"board file {path} lacks {', '.join(missing)}",
                          hint="see docs/boards.md for the keys a board file needs", kind=ErrorKind.INPUT)
    engines = tuple(data.pop("engines"))
    bad = [e for e in engines if e not in ENGINES]
    if bad:
        raise TinymlError(f"board file {path}: unknown engine(s) {bad}", hint=f"engines are {', '.join(ENGINES)}",
                          kind=ErrorKind.INPUT)
    if data["arch"] not in ARCHS:
        raise TinymlError(f"board file {path}: unknown arch '{data['arch']}'",
                          hint=f"arch is one of {', '.join(ARCHS)}", kind=ErrorKind.INPUT)
    known = set(Board.__dataclass_fields__)
    extra = {k: data.pop(k) for k in list(data) if k not in known}
    data["usb_ids"] = tuple(data.get("usb_ids", ()))
    try:
        return Board(id=path.stem, engines=engines, source=str(path), extra=extra, **data)
    except TypeError as exc:
        raise TinymlError(f"board file {path} is malformed: {exc}", kind=ErrorKind.INPUT) from exc


def board_dirs(boards_dir: str | Path | None = None) -> list[Path]:
    """Where boards are looked up, lowest priority first."""
    dirs = [resource_dir("boards")]
    local = Path.cwd() / "boards"
    if local.is_dir() and local.resolve() != dirs[0].resolve():
        dirs.append(local)
    if boards_dir is not None:
        p = Path(boards_dir)
        if not p.is_dir():
            raise TinymlError(f"boards directory {p} does not exist", hint="pass an existing directory",
                              kind=ErrorKind.INPUT)
        dirs.append(p)
    return dirs


def all_boards(boards_dir: str | Path | None = None) -> dict[str, Board]:
    boards: dict[str, Board] = {}
    for d in board_dirs(boards_dir):
        for path in sorted(d.glob("*.toml")):
            boards[path.stem] = _parse(path)
    return boards


def get_board(board_id: str, boards_dir: str | Path | None = None) -> Board:
    boards = all_boards(boards_dir)
    if board_id not in boards:
        raise TinymlError(f"unknown board '{board_id}'",
                          hint=f"known boards: {', '.join(sorted(boards))} (or add boards/{board_id}.toml)",
                          kind=ErrorKind.USAGE)
    return boards[board_id]
