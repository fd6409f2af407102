"""``tinyml profile``: per-layer time of a flashed aot model, measured on the device.

The runtime keeps the device's cycle counter at every layer boundary of the last inference (the
generated model calls ``tinyml_layer_hook``); the 'P' frame (docs/protocol.md) returns the
per-layer differences. Joined here with each layer's MACs (tinyml.model.analysis) for MACs per
cycle. The counter is the port's ``tinyml_port_cycles``: core cycles (DWT CYCCNT, the ESP32 cycle
count) on real boards; on the QEMU boards it is SysTick in ``-icount`` virtual time, where every
guest instruction takes 2^shift ns, so instructions = cycles * (1e9 / cpu_hz) / 2^shift there
(to about one SysTick tick per layer; tinyml.profile.icount gives exact counts).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError

DEFAULT_ICOUNT_SHIFT = 5  # firmware/platforms/tinyml-qemu/boards/*.json build.icount_shift


@dataclass
class LayerProfile:
    index: int
    op: str
    macs: int
    cycles: int
    instructions: int | None  # virtual boards: derived from the cycles (see module doc)
    macs_per_cycle: float
    share: float  # of the inference's layer total


@dataclass
class Profile:
    port: str
    board: str | None
    engine: str
    total_cycles: int
    total_us: int
    layers: list[LayerProfile] = field(default_factory=list)
    instructions_per_cycle: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def aot_layers(model: Any) -> list[tuple[str, int]]:
    """(op name, MACs) of each layer the aot engine runs, in order (alias ops run nothing)."""
    from tinyml.codegen.aot.planner import spec_for
    from tinyml.model.analysis import op_macs

    return [(op.opcode, op_macs(model, op)[0]) for op in model.operators if not spec_for(model, op).alias]


def _virtual_scale(board_id: str | None) -> float | None:
    """Instructions per counter tick on a QEMU -icount board, None elsewhere."""
    if not board_id:
        return None
    from tinyml.boards import get_board
    from tinyml.resources import resource_dir

    try:
        board = get_board(board_id)
    except TinymlError:
        return None
    if not board.virtual or board.arch == "avr" or not board.cpu_hz:
        return None
    shift = DEFAULT_ICOUNT_SHIFT
    spec = resource_dir("firmware") / "platforms" / "tinyml-qemu" / "boards" / f"{board.pio_board}.json"
    if spec.is_file():
        shift = int(json.loads(spec.read_text()).get("build", {}).get("icount_shift", shift))
    return (1e9 / board.cpu_hz) / (1 << shift)


def profile_project(project: Path | None, port: str | None = None, *, model_path: Path | None = None,
                    runs: int = 3, timeout: float = 60.0) -> Profile:
    """Per-layer cycles on the device, the fastest of ``runs`` inferences per layer."""
    from tinyml.model.tflite import load
    from tinyml.serial.client import DeviceClient
    from tinyml.serial.ports import project_board, resolve_port
    from tinyml.serial.validate import find_model

    path = find_model(project, model_path)
    model = load(path)
    url = resolve_port(project, port)
    board = project_board(project) if project is not None else None
    tin = model.input_tensors()[0]
    rng = np.random.default_rng(0)
    if tin.dtype == "int8":
        x = rng.integers(-128, 128, size=tin.shape[1:], dtype=np.int8).tobytes()
    else:
        x = np.zeros(tin.shape[1:], dtype=np.float32).tobytes()
    with DeviceClient.open(url, timeout=timeout) as client:
        # --timeout is for one (possibly long) inference; a silent device must fail as fast as in monitor.
        hello = client.hello(timeout=min(timeout, 6.0))
        if hello.sha256 and hello.sha256 != model.sha256:
            raise TinymlError("the device runs a different model than " + str(path),
                              hint="flash this project first (tinyml build + tinyml flash)", kind=ErrorKind.DEVICE)
        best: list[int] | None = None
        total_cycles = total_us = 0
        for _ in range(max(1, runs)):
            result, cycles = client.profile(x)
            if not cycles:
                raise TinymlError("the device reported no per-layer times",
                                  hint="per-layer profiles need the aot engine (tinyml generate --engine aot) "
                                       "on a 32-bit board; regenerate and flash with this tinyml",
                                  kind=ErrorKind.UNSUPPORTED)
            if best is None or result.cycles < total_cycles:
                total_cycles, total_us = result.cycles, result.us
            best = cycles if best is None else [min(a, b) for a, b in zip(best, cycles, strict=True)]
    assert best is not None
    layers = aot_layers(model)
    if len(layers) != len(best):
        raise TinymlError(f"the device reports {len(best)} layers, the model has {len(layers)}",
                          hint="regenerate and flash the project from this model", kind=ErrorKind.DEVICE)
    scale = _virtual_scale(board)
    layer_sum = sum(best) or 1
    rows = [LayerProfile(i, op, macs, c, int(round(c * scale)) if scale else None,
                         macs / c if c else 0.0, c / layer_sum)
            for i, ((op, macs), c) in enumerate(zip(layers, best, strict=True))]
    return Profile(url, board, hello.engine, total_cycles, total_us, rows, scale)
