"""``tinyml flash DIR --model-only [--model NEW.tflite]``: rewrite just the ESP32 ``model`` partition.

No rebuild, no app write: esptool writes the partition image (tinyml/build/partitions.py) at the
offset in the project's manifest, a few seconds for a few hundred KB. Everything the firmware
would refuse is refused here first, with names and numbers (the firmware checks again at boot
and reports over the protocol, for images written by other means):

- the new model's ops must be a subset of the firmware's op resolver (``tinyml.json``);
- its input and output must be the firmware's (dtype, shape, scale, zero point: the I/O code and
  the host's quantization were generated for them);
- its arena (TFLM host interpreter's smallest working arena + tinyml's margin) must fit the
  firmware's arena, and the image must fit the partition.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from tinyml.build import partitions
from tinyml.errors import ErrorKind, TinymlError


def check_update(manifest: dict[str, Any], model: Any, arena_needed: int) -> None:
    """Refuse a model the project's firmware cannot run (TinymlError naming why)."""
    tflm = manifest.get("tflm") or {}
    allowed = tflm.get("resolver_ops") or []
    missing = [op for op in model.opcodes() if op not in allowed]
    if missing:
        raise TinymlError(f"the firmware's op resolver lacks {', '.join(missing)} (it has {', '.join(allowed)})",
                          hint="regenerate and reflash the project for this model (tinyml generate ... --force; "
                               "tinyml flash DIR)", kind=ErrorKind.UNSUPPORTED)
    io = tflm.get("io") or {}
    for kind, tensor in (("input", model.input_tensors()[0]), ("output", model.output_tensors()[0])):
        want = io.get(kind)
        if want is None:
            continue
        have = {"dtype": tensor.dtype, "shape": [int(d) for d in tensor.shape], "scale": float(tensor.scale),
                "zero_point": int(tensor.zero_point)}
        same = (have["dtype"] == want["dtype"] and have["shape"] == want["shape"]
                and have["zero_point"] == want["zero_point"]
                and math.isclose(have["scale"], want["scale"], rel_tol=1e-6, abs_tol=0.0))
        if not same:
            raise TinymlError(f"the new model's {kind} ({_desc(have)}) differs from the firmware's ({_desc(want)})",
                              hint="a model-only update keeps the I/O: regenerate and reflash the project",
                              kind=ErrorKind.UNSUPPORTED)
    arena = int(manifest["arena_bytes"])
    if arena_needed > arena:
        raise TinymlError(f"the new model needs a {arena_needed:,} B arena, the firmware has {arena:,} B",
                          hint="regenerate and reflash the project for this model", kind=ErrorKind.DOES_NOT_FIT)


def _desc(t: dict[str, Any]) -> str:
    return f"{t['dtype']} {'x'.join(str(d) for d in t['shape'])}, scale {t['scale']:.6g}, zp {t['zero_point']}"


def update_model(project: str | Path, *, model_path: str | Path | None = None, port: str | None = None,
                 boards_dir: str | Path | None = None) -> Any:
    """Check, then write the model partition with esptool; returns a FlashResult."""
    from tinyml.boards import get_board
    from tinyml.build.bundle import project_model_image, required_arena
    from tinyml.build.esptool import run_esptool, write_flash_argv
    from tinyml.build.flash import FlashResult
    from tinyml.codegen.project import read_manifest
    from tinyml.model.tflite import load
    from tinyml.writer import write_file

    root = Path(project)
    if not root.is_dir():
        raise TinymlError(f"project directory {root} does not exist", hint="pass the directory `tinyml generate` "
                          "wrote (its tinyml.json says where the model partition is)", kind=ErrorKind.INPUT)
    manifest = read_manifest(root)
    board = get_board(str(manifest["board"]), boards_dir)
    esp = manifest.get("esp32") or {}
    if manifest.get("engine") != "tflm" or not esp.get("model_partition"):
        raise TinymlError(f"{root} has no model partition (board {board.id}, engine {manifest.get('engine')})",
                          hint="model-only updates need an ESP32 project with the tflm engine "
                               "(tinyml generate MODEL --board esp32dev --engine tflm)", kind=ErrorKind.UNSUPPORTED)
    part = esp["model_partition"]
    if model_path is not None:
        new = load(model_path)
        check_update(manifest, new, required_arena(new.raw))
        image = project_model_image(root, manifest, Path(model_path))
    else:
        image = project_model_image(root, manifest)
    if len(image) > int(part["size"]):
        raise TinymlError(f"the model image ({len(image):,} B) does not fit the {int(part['size']):,} B model "
                          "partition", hint="regenerate the project for this model (a bigger partition)",
                          kind=ErrorKind.DOES_NOT_FIT)
    from tinyml.serial.ports import autodetect

    chosen = port or autodetect(board.id)
    dest = root / ".tinyml" / "model.bin"
    dest.parent.mkdir(exist_ok=True)
    write_file(dest, image)
    argv = write_flash_argv(str(esp.get("chip") or partitions.CHIPS[board.arch][0]), chosen,
                            [(int(part["offset"]), dest)])
    run_esptool(argv, chosen, what="esptool write-flash (model partition)")
    (root / ".tinyml" / "port").write_text(chosen + "\n", encoding="utf-8")  # for `tinyml monitor DIR`
    return FlashResult(root, board.id, False, chosen, command=argv)
