"""The one exception type of tinyml, and the one place that maps it to exit codes.

Library code raises ``TinymlError(message, hint=..., kind=...)``; the CLI prints
``error: message`` and ``hint: ...`` on one line each and exits with ``EXIT_CODES[kind]``.
"""

from __future__ import annotations

import enum


class ErrorKind(enum.Enum):
    USAGE = "usage"  # bad arguments or options
    INPUT = "input"  # a file that is missing, corrupt or of the wrong kind
    UNSUPPORTED = "unsupported"  # valid input tinyml cannot handle (op, dtype, engine, board)
    DOES_NOT_FIT = "does-not-fit"  # model too big for the board
    TOOL = "tool"  # an external tool is missing or failed (compiler, pio, qemu, esptool)
    OFFLINE = "offline"  # a registry or network resource is needed and unreachable
    DEVICE = "device"  # port missing, device silent, reset or corrupt stream
    MISMATCH = "mismatch"  # a check failed: outputs differ, accuracy below threshold
    OUTPUT = "output"  # cannot write where asked


EXIT_CODES: dict[ErrorKind, int] = {
    ErrorKind.USAGE: 2,
    ErrorKind.INPUT: 3,
    ErrorKind.UNSUPPORTED: 4,
    ErrorKind.DOES_NOT_FIT: 5,
    ErrorKind.TOOL: 6,
    ErrorKind.OFFLINE: 7,
    ErrorKind.DEVICE: 8,
    ErrorKind.MISMATCH: 9,
    ErrorKind.OUTPUT: 10,
}


class TinymlError(Exception):
    """An error a user can act on: a one-line message and a hint saying what to do."""

    def __init__(self, message: str, hint: str | None = None, kind: ErrorKind = ErrorKind.INPUT):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.kind = kind

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message} ({self.hint})"
