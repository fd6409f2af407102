"""`tinyml demo`: the pipeline end to end on the sine example, one step at a time.

The demo is a list of ``Step``s; each takes the shared ``DemoContext``, does one library call,
records what it produced in ``ctx.artifacts`` and returns the lines to print. To extend it (generate,
build, flash a virtual board, stream results) append steps to ``STEPS`` or pass your own list to
``run_demo``; a step reads what earlier steps left in ``ctx.artifacts``:

- ``keras``: Path of model.keras, ``rep`` / ``val``: Paths of rep.npz / val.npz (step "train")
- ``tflite``: Path of model.tflite, ``quantize_report``: QuantizeReport (step "quantize")
- ``inspect_report``: InspectReport (step "inspect")
- ``c_files``: list of Paths (step "convert")
- ``host_run``: HostRun of the TFLM interpreter on val.npz (step "run")
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from tinyml.errors import ErrorKind, TinymlError

DEMO_BOARD = "qemu-mps2-an386"  # the virtual Cortex-M4 board later steps build and flash


@dataclass
class DemoContext:
    workdir: Path
    echo: Callable[[str], None] = print
    board: str = DEMO_BOARD
    artifacts: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    name: str
    title: str
    run: Callable[[DemoContext], list[str]]


def _example_module(name: str) -> ModuleType:
    """examples/<name>/train.py as a module (the examples are scripts, not part of the package)."""
    from tinyml.resources import resource_dir

    path = resource_dir("examples") / name / "train.py"
    spec = importlib.util.spec_from_file_location(f"tinyml_example_{name}", path)
    if spec is None or spec.loader is None or not path.exists():
        raise TinymlError(f"the {name} example is missing ({path})", hint="install tinyml from its source tree",
                          kind=ErrorKind.TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def step_train(ctx: DemoContext) -> list[str]:
    keras_path, rep, val = ctx.workdir / "model.keras", ctx.workdir / "rep.npz", ctx.workdir / "val.npz"
    ctx.artifacts.update(keras=keras_path, rep=rep, val=val)
    example = _example_module("sine")
    if keras_path.exists():
        if not (rep.exists() and val.exists()):
            # Same seed, same samples: the data can be rebuilt without retraining.
            data = example.make_data()
            np.savez(rep, x=data["x_train"][:300])
            np.savez(val, x=data["x_val"], y=data["y_val"])
        return [f"reusing {keras_path} (delete it to train again)"]
    from tinyml.model.quantize import import_tf

    import_tf()
    metrics = example.train(ctx.workdir)
    return [f"trained a 1-16-16-1 MLP on noisy sin(x): held-out RMSE {metrics['float_rmse']:.4f}",
            f"wrote {keras_path}, {rep.name}, {val.name}"]


def step_quantize(ctx: DemoContext) -> list[str]:
    from tinyml.model.quantize import quantize_file

    out = ctx.workdir / "model.tflite"
    report = quantize_file(ctx.artifacts["keras"], ctx.artifacts["rep"], out, val_path=ctx.artifacts["val"])
    from tinyml.model.tflite import load

    ctx.artifacts.update(tflite=out, quantize_report=report, tflite_ops=load(out).opcodes())
    lines = [f"wrote {out}: {report.int8_bytes:,} B int8 (float32 .tflite: {report.float_bytes:,} B)"]
    c = report.comparison
    if c is not None:
        lines.append(f"held-out RMSE: float {c.float_value:.4f}, int8 {c.int8_value:.4f} "
                     f"(TFLM host interpreter); max |int8 - float| {c.max_abs_diff:.4f}")
    return lines


def step_inspect(ctx: DemoContext) -> list[str]:
    try:
        from tinyml.model.analysis import inspect_model
    except ImportError:
        return ["skipped: tinyml.model.analysis is not available"]
    report = inspect_model(ctx.artifacts["tflite"], board=ctx.board)
    ctx.artifacts["inspect_report"] = report
    t = report.totals
    arena = f"; TFLM arena {report.arena_bytes:,} B" if report.arena_bytes is not None else ""
    lines = [f"ops: {', '.join(ctx.artifacts['tflite_ops'])}; {t.macs:,} MACs; weights {t.weight_bytes:,} B{arena}"]
    if report.fit is not None:
        f = report.fit
        lines.append(f"{f.board_name} ({f.engine}): {'fits' if f.fits else 'does NOT fit'}, flash "
                     f"{f.flash_used_bytes:,} / {f.flash_bytes:,} B, RAM {f.ram_used_bytes:,} / {f.ram_bytes:,} B "
                     f"(arena {f.arena_bytes:,} B)")
    return lines


def step_convert(ctx: DemoContext) -> list[str]:
    try:
        from tinyml.codegen.c_array import convert_to_c
    except ImportError:
        return ["skipped: tinyml.codegen.c_array is not available"]
    files = convert_to_c(ctx.artifacts["tflite"], ctx.workdir / "c")
    ctx.artifacts["c_files"] = files
    return [f"wrote {', '.join(str(p) for p in files)}"]


def step_run(ctx: DemoContext) -> list[str]:
    from tinyml.model.data import load_data
    from tinyml.model.metrics import rmse
    from tinyml.model.reference import run_file

    val = load_data(ctx.artifacts["val"], what="validation data")
    result = run_file(ctx.artifacts["tflite"], ctx.artifacts["val"])
    ctx.artifacts["host_run"] = result
    y = result.dequantized if result.dequantized is not None else result.outputs
    assert val.y is not None
    lines = [*[f"note: {n}" for n in result.notes],
             f"{len(y)} held-out samples on the TFLM host interpreter: RMSE {rmse(y, val.y):.4f}"]
    for i in np.argsort(val.x.reshape(-1))[:: max(1, len(y) // 5)][:5]:
        x = float(val.x.reshape(-1)[i])
        lines.append(f"  x = {x:5.3f}: int8 model {float(y[i].reshape(-1)[0]):+.3f}, sin(x) {np.sin(x):+.3f}")
    return lines


STEPS: list[Step] = [
    Step("train", "train the sine model (or reuse it)", step_train),
    Step("quantize", "quantize to int8 and compare with float", step_quantize),
    Step("inspect", f"inspect: ops, MACs, memory, fit on {DEMO_BOARD}", step_inspect),
    Step("convert", "convert to a C array", step_convert),
    Step("run", "run on the TFLite Micro host interpreter", step_run),
]


def prepare_workdir(workdir: str | Path) -> Path:
    wd = Path(workdir)
    if wd.exists() and not wd.is_dir():
        raise TinymlError(f"{wd} exists and is not a directory", hint="choose another --workdir",
                          kind=ErrorKind.OUTPUT)
    try:
        wd.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TinymlError(f"cannot create {wd}: {exc.strerror or exc}", hint="choose a writable --workdir",
                          kind=ErrorKind.OUTPUT) from exc
    probe = wd / ".tinyml-write-test"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise TinymlError(f"{wd} is not writable", hint="choose a writable --workdir", kind=ErrorKind.OUTPUT) from exc
    return wd


def run_demo(workdir: str | Path = "tinyml-demo", *, steps: Sequence[Step] | None = None,
             echo: Callable[[str], None] = print, board: str = DEMO_BOARD) -> DemoContext:
    """Run ``steps`` (default ``STEPS``) in order, printing each one's title, result and time."""
    ctx = DemoContext(prepare_workdir(workdir), echo, board)
    todo = list(STEPS if steps is None else steps)
    total = time.monotonic()
    for i, step in enumerate(todo, 1):
        echo(f"[{i}/{len(todo)}] {step.title}")
        start = time.monotonic()
        for line in step.run(ctx):
            echo(f"    {line}")
        echo(f"    ({time.monotonic() - start:.1f} s)")
    echo(f"demo done in {time.monotonic() - total:.1f} s; files in {ctx.workdir}")
    return ctx
