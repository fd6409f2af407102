"""Opening the device's serial port: any pyserial URL, a project's recorded port, or USB auto-detect.

``open_port`` takes a device path (``/dev/ttyACM0``, ``COM3``), ``socket://host:port`` (QEMU's
UART, the host port) or ``rfc2217://host:port`` (a remote bench rig). ``resolve_port`` decides
which one: an explicit ``--port``, else ``DIR/.tinyml/port`` written by ``tinyml flash``, else the
USB VID:PID of the project's board (from ``boards/*.toml`` ``usb_ids``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tinyml.errors import ErrorKind, TinymlError

log = logging.getLogger("tinyml.serial")

DEFAULT_BAUD = 115200


def open_port(url: str, baud: int = DEFAULT_BAUD, timeout: float = 0.05) -> Any:
    """An open pyserial port (or URL handler), or a TinymlError(kind=DEVICE) saying why not."""
    import serial

    log.info("opening %s at %d baud", url, baud)
    try:
        # pyserial's RFC 2217 client refuses any write timeout (NotImplementedError at open)
        extra = {} if url.startswith("rfc2217://") else {"write_timeout": 10}
        return serial.serial_for_url(url, baudrate=baud, timeout=timeout, **extra)
    except (serial.SerialException, OSError, ValueError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if url.startswith(("socket://", "rfc2217://")):
            hint = ("is the device (or emulator) running? `tinyml flash DIR` starts a virtual board and "
                    "records its port in DIR/.tinyml/port")
        else:
            hint = "check the cable and the port name (`tinyml monitor --list-ports` shows candidates)"
        raise TinymlError(f"cannot open serial port {url}: {reason}", hint=hint, kind=ErrorKind.DEVICE) from exc


@dataclass(frozen=True)
class PortCandidate:
    device: str
    vid_pid: str
    board: str
    description: str


def list_candidates(board_ids: list[str] | None = None) -> list[PortCandidate]:
    """USB serial ports whose VID:PID belongs to a known board (optionally only the given boards)."""
    from serial.tools import list_ports

    from tinyml.boards import all_boards

    wanted: dict[str, list[str]] = {}
    for b in all_boards().values():
        if board_ids is not None and b.id not in board_ids:
            continue
        for vp in b.usb_ids or []:
            wanted.setdefault(vp.upper(), []).append(b.id)
    found = []
    for p in list_ports.comports():
        if p.vid is None or p.pid is None:
            continue
        vp = f"{p.vid:04X}:{p.pid:04X}"
        if vp in wanted:
            found.append(PortCandidate(p.device, vp, ",".join(wanted[vp]), p.description or ""))
    return found


def autodetect(board_id: str | None = None) -> str:
    """The one port that matches the board's USB ids; an error listing candidates otherwise."""
    found = list_candidates([board_id] if board_id else None)
    what = f"board '{board_id}'" if board_id else "a known board"
    if not found:
        raise TinymlError(f"no serial port with the USB id of {what} was found",
                          hint="plug the board in, or pass --port (a device path, socket://HOST:PORT or "
                               "rfc2217://HOST:PORT)", kind=ErrorKind.DEVICE)
    if len(found) > 1:
        listing = "; ".join(f"{c.device} ({c.vid_pid} {c.board})" for c in found)
        raise TinymlError(f"several serial ports match {what}: {listing}",
                          hint="pick one with --port", kind=ErrorKind.DEVICE)
    return found[0].device


def project_board(project: Path) -> str | None:
    """The board id a generated project was made for (its tinyml.json), if known."""
    import json

    meta = project / "tinyml.json"
    if not meta.is_file():
        return None
    try:
        board = json.loads(meta.read_text(encoding="utf-8")).get("board")
    except (ValueError, OSError):
        return None
    return str(board) if board else None


def resolve_port(project: Path | None, port: str | None) -> str:
    """--port wins; then the port `tinyml flash` recorded in DIR/.tinyml/port; then USB auto-detect."""
    if port:
        return port
    if project is not None:
        if not project.is_dir():
            raise TinymlError(f"project directory {project} does not exist",
                              hint="pass the directory `tinyml generate` wrote, or --port", kind=ErrorKind.INPUT)
        recorded = project / ".tinyml" / "port"
        if recorded.is_file():
            text = recorded.read_text().strip()
            if text:
                return text
        board_id = project_board(project)
        if board_id is not None and _is_virtual(board_id):
            # no USB id to look for: the emulator is simply not running (never flashed, or stopped)
            raise TinymlError(f"the virtual board {board_id} of {project} is not running",
                              hint=f"start it with: tinyml flash {project}", kind=ErrorKind.DEVICE)
        return autodetect(board_id)
    return autodetect(None)


def _is_virtual(board_id: str) -> bool:
    from tinyml.boards import get_board

    try:
        return bool(get_board(board_id).virtual)
    except TinymlError:  # a board this tinyml does not know: treat it as real
        return False
