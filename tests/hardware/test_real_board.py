"""Hardware tier: the digits model on a real board, through the same code path as the virtual boards.

Runs only when a board is attached: set ``TINYML_HW_BOARD`` (a board id, e.g. ``nano33ble``) and,
unless the port is auto-detected by its USB id, ``TINYML_HW_PORT`` (a device path, ``socket://`` or
``rfc2217://``). Without them every test here is skipped with the reason. Building for a real board
needs its PlatformIO platform installed (a machine with network, once).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

pytestmark = pytest.mark.hardware


def _target() -> tuple[str, str]:
    from tinyml.boards import get_board
    from tinyml.errors import TinymlError
    from tinyml.serial.ports import autodetect

    board_id = os.environ.get("TINYML_HW_BOARD")
    if not board_id:
        pytest.skip("no real board attached: set TINYML_HW_BOARD (and TINYML_HW_PORT unless auto-detected)")
    board = get_board(board_id)
    if board.virtual:
        pytest.skip(f"{board_id} is a virtual board: the emulator tier covers it")
    port = os.environ.get("TINYML_HW_PORT")
    if not port:
        try:
            port = autodetect(board_id)
        except TinymlError as err:
            pytest.skip(f"board {board_id} not found on any serial port: {err.message}")
    return board_id, port


def test_digits_on_a_real_board_is_bit_exact(tmp_path_factory: pytest.TempPathFactory) -> None:
    board_id, port = _target()
    import models

    from tinyml.build.flash import build, flash
    from tinyml.codegen.project import create_project
    from tinyml.serial.validate import validate_project

    ex = models.example_dir("digits", tmp_path_factory.getbasetemp())
    project, _ = create_project(ex / "model.tflite", board_id, tmp_path_factory.mktemp("hw") / "fw",
                                engine="aot", force=True)
    build(project)
    flash(project, port=port)
    v = validate_project(project, ex / "val.npz", port, limit=100, timeout=30.0)
    assert v.metrics.samples == 100
    assert v.metrics.bit_exact == v.metrics.samples, v.metrics.to_dict()
